using System.CommandLine;
using Diffusion.Tools;
using Diffusion.Tools.Cli;

namespace Diffusion.Runtime.Tests;

/// <summary>Diffusion.Tools: the output checks and the CLI host's error convention.</summary>
public class ToolsTests
{
    [Fact]
    public void OutputPath_RefusesAFileForAFolder_AndAFolderForAFile_WritingNothing()
    {
        string dir = TinyModels.NewTempDir(), file = Path.Combine(dir, "a.txt");
        File.WriteAllText(file, "x");
        Assert.Equal($"--out {file} is a file; expected a folder.", Assert.Throws<InvalidInputException>(() => OutputPath.CheckFolder(file, "--out")).Message);
        Assert.Equal($"--out {dir} is a folder; expected a file.", Assert.Throws<InvalidInputException>(() => OutputPath.CheckFile(dir, "--out")).Message);
        Assert.Contains("is a file, so no folder can be made under it", Assert.Throws<InvalidInputException>(() => OutputPath.CheckFolder(Path.Combine(file, "sub"), "--out")).Message);
        // a folder that does not exist yet is fine, and is not created by the check
        OutputPath.CheckFolder(Path.Combine(dir, "new", "deeper"), "--out");
        OutputPath.CheckFile(Path.Combine(dir, "result.json"), "--out");
        Assert.Equal(["a.txt"], Directory.GetFileSystemEntries(dir).Select(Path.GetFileName));
    }

    [Fact]
    public void CliHost_TurnsFileSystemFailuresIntoOneLine_Exit2()
    {
        var root = new RootCommand("test");
        var cmd = new Command("write");
        cmd.SetAction((ParseResult _) => (int)Fail());
        root.Subcommands.Add(cmd);
        var err = new StringWriter();
        Assert.Equal(InvalidInputException.ExitCode, CliHost.Run(root, ["write"], new StringWriter(), err));
        Assert.Equal("error: cannot write: No space left on device : '/full/disk/out.png'", err.ToString().Trim());
    }

    private static object Fail() => throw new IOException("No space left on device : '/full/disk/out.png'");

    [Fact]
    public void CliHost_ParseErrorsNameWhatToType()
    {
        Assert.Equal("Cannot parse argument 'x' for option '--seed'; expected a whole number >= 0.",
            CliHost.Plain("Cannot parse argument 'x' for option '--seed' as expected type 'System.UInt64'."));
        Assert.Equal("Cannot parse argument 'x' for option '--lr'; expected a number.",
            CliHost.Plain("Cannot parse argument 'x' for option '--lr' as expected type 'System.Double'."));
    }

    [Fact]
    public void InputFile_NamesAFolderAsAFolder()
    {
        string dir = TinyModels.NewTempDir();
        Assert.Equal($"Checkpoint {dir} is a folder; expected a file.", Assert.Throws<InvalidInputException>(() => InputFile.Require(dir, "Checkpoint")).Message);
        Assert.Equal($"Checkpoint not found: {dir}/x (run this first).", Assert.Throws<InvalidInputException>(() => InputFile.Require(Path.Combine(dir, "x"), "Checkpoint", "run this first")).Message);
    }
}

public class AtomicFileTests
{
    [Fact]
    public void AWrite_RemovesTheTemporariesOfEndedProcesses_AndKeepsTheLiveOnes()
    {
        string dir = TinyModels.NewTempDir();
        int dead;
        using (var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("true") { UseShellExecute = false })!)
        {
            p.WaitForExit();
            dead = p.Id;
        }
        string stale = Path.Combine(dir, $".last.ckpt.{dead}.{Guid.NewGuid():N}.tmp");
        string live = Path.Combine(dir, $".other.bin.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        string foreign = Path.Combine(dir, ".someone-elses.tmp");
        foreach (var f in new[] { stale, live, foreign }) File.WriteAllText(f, "partial");

        AtomicFile.WriteAllText(Path.Combine(dir, "out.txt"), "whole");

        Assert.False(File.Exists(stale), "a killed writer's temporary file survived the next write");
        Assert.True(File.Exists(live), "a running writer's temporary file was removed");
        Assert.True(File.Exists(foreign), "a file of another naming was removed");
        Assert.Equal("whole", File.ReadAllText(Path.Combine(dir, "out.txt")));
    }
}

public class FolderLockTests
{
    [Fact]
    public void ASecondWriter_IsRefused_ADeadOnesLock_IsTakenOver()
    {
        string dir = Path.Combine(TinyModels.NewTempDir(), "run");
        using (var held = FolderLock.Acquire(dir, "Run folder"))
        {
            Assert.Equal(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), File.ReadAllText(held.Path).Trim());
            var e = Assert.Throws<InvalidInputException>(() => FolderLock.Acquire(dir, "Run folder"));
            Assert.Equal($"Run folder {dir} is in use by process {Environment.ProcessId} (lock file {held.Path}); wait for it to finish or stop it.", e.Message);
        }
        Assert.False(File.Exists(Path.Combine(dir, FolderLock.FileName)), "the lock outlived its writer");

        // a lock left by a process that has ended (kill -9): taken over, with a message
        int dead;
        using (var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("true") { UseShellExecute = false })!) { p.WaitForExit(); dead = p.Id; }
        File.WriteAllText(Path.Combine(dir, FolderLock.FileName), $"{dead}\n");
        var said = new List<string>();
        using (FolderLock.Acquire(dir, "Run folder", said.Add)) Assert.Contains($"its process ({dead}) has ended", Assert.Single(said));
    }
}
