using System.Diagnostics;
using Diffusion.Onnx;
using Diffusion.Runtime;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Onnx;
using Diffusion.Tools;
using Diffusion.Train.Checkpoints;
using Diffusion.Train.Config;
using Diffusion.Train.Model;
using ModelMetadata = Diffusion.Runtime.ModelMetadata;

namespace Diffusion.Export.Tests;

/// <summary>
/// A model folder is whole or absent (issue 15, items 1-2): every graph names the checkpoint it came from, the runtime
/// refuses a folder whose graphs disagree on it, an export replaces the folder as a whole (files it does not own are
/// kept), and a failed or killed export leaves the previous folder byte-identical.
/// </summary>
public sealed class FolderIntegrityTests : CommandTestBase
{
    private string Checkpoint(int seed) => SaveCheckpoint(
        new TrainConfig { Name = "folder-test", Preset = "small", Model = UNetConfig.Preset("small") }.Validate(), seed: seed, folder: $"run{seed}");

    private string Data(int size = 28, string name = "data", bool truncate = false)
    {
        string data = Path.Combine(Dir, name);
        var rng = new Random(9);
        foreach (var (split, n) in new[] { ("train", 64), ("t10k", 32) })
        {
            var pixels = new byte[n * size * size];
            for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(rng.NextDouble() < 0.2 ? 255 : 0);
            string images = Path.Combine(data, $"{split}-images-idx3-ubyte");
            Idx.Write(images, [n, size, size], pixels);
            Idx.Write(Path.Combine(data, $"{split}-labels-idx1-ubyte"), [n], Enumerable.Range(0, n).Select(i => (byte)(i % 10)).ToArray());
            if (truncate && split == "t10k") File.WriteAllBytes(images, File.ReadAllBytes(images)[..^100]);
        }
        return data;
    }

    private int Export(string ck, string? data, string? outDir = null) =>
        ExportCli.Run(["export", "--checkpoint", ck, "--out", outDir ?? Out, .. (data is null ? ["--no-int8"] : new[] { "--data", data })], Stdout, Stderr);

    // every file under a folder with its bytes, by relative path
    private static SortedDictionary<string, byte[]> Snapshot(string dir) => new(
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories).ToDictionary(f => Path.GetRelativePath(dir, f), File.ReadAllBytes), StringComparer.Ordinal);

    private static void AssertSame(SortedDictionary<string, byte[]> before, string dir)
    {
        var after = Snapshot(dir);
        Assert.Equal(before.Keys, after.Keys);
        foreach (var (k, v) in before) Assert.True(v.AsSpan().SequenceEqual(after[k]), $"{k} changed");
    }

    private void AssertNothingLeftBeside()
    {
        var stray = Directory.GetFileSystemEntries(Dir).Select(Path.GetFileName).Where(n => n!.StartsWith('.')).ToList();
        Assert.True(stray.Count == 0, "left beside the model folder: " + string.Join(", ", stray));
    }

    private static ModelMetadata Meta(string file) => ModelMetadata.FromProperties(OnnxHelper.Metadata(OnnxHelper.Load(file)), file);

    [Fact]
    public void Every_graph_names_its_checkpoint_and_a_second_export_replaces_the_folder_but_keeps_its_other_files()
    {
        string data = Data(), a = Checkpoint(1), b = Checkpoint(2);
        Assert.Equal(0, Export(a, data));
        using (var ck = Train.Checkpoints.Checkpoint.Load(a))
            foreach (var f in new[] { ModelFolderLayout.Unet, ModelFolderLayout.Guided, ModelFolderLayout.UnetInt8, ModelFolderLayout.GuidedInt8 })
            {
                Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(a))), Meta(Path.Combine(Out, f)).CheckpointSha256);
                Assert.Equal(ck.FileSha256, Meta(Path.Combine(Out, f)).CheckpointSha256);
                Assert.Equal(ck.Step, Meta(Path.Combine(Out, f)).CheckpointStep);
            }
        // files export does not own: a judge and a note, in the folder and below it
        File.WriteAllText(Path.Combine(Out, ModelFolderLayout.JudgeCard), "{\"judge\": 1}");
        Directory.CreateDirectory(Path.Combine(Out, "notes"));
        File.WriteAllText(Path.Combine(Out, "notes", "readme.txt"), "mine");

        Assert.Equal(0, Export(b, data: null)); // float32 only: the int8 graphs of the first export must go
        using (var ck = Train.Checkpoints.Checkpoint.Load(b))
        {
            Assert.Equal(ck.FileSha256, Meta(Path.Combine(Out, ModelFolderLayout.Unet)).CheckpointSha256);
            Assert.Equal(ck.FileSha256, Meta(Path.Combine(Out, ModelFolderLayout.Guided)).CheckpointSha256);
        }
        Assert.False(File.Exists(Path.Combine(Out, ModelFolderLayout.UnetInt8)));
        Assert.False(File.Exists(Path.Combine(Out, ModelFolderLayout.GuidedInt8)));
        Assert.Contains($"removed {Path.Combine(Out, ModelFolderLayout.UnetInt8)}", Stdout.ToString());
        Assert.Equal("{\"judge\": 1}", File.ReadAllText(Path.Combine(Out, ModelFolderLayout.JudgeCard)));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(Out, "notes", "readme.txt")));
        AssertNothingLeftBeside();
    }

    [Fact]
    public void The_runtime_refuses_a_folder_whose_graphs_come_from_two_checkpoints_naming_both()
    {
        string first = Path.Combine(Dir, "first");
        Assert.Equal(0, Export(Checkpoint(3), null, first));
        Assert.Equal(0, Export(Checkpoint(4), null));
        File.Copy(Path.Combine(first, ModelFolderLayout.Guided), Path.Combine(Out, ModelFolderLayout.Guided), overwrite: true);
        foreach (var precision in new[] { PrecisionMode.Float32, PrecisionMode.Auto })
        {
            var e = Assert.Throws<InvalidInputException>(() => DiffusionPipeline.Load(Out, new RuntimeOptions { IntraOpThreads = 1, Precision = precision }));
            Assert.Contains("different checkpoints", e.Message);
            Assert.Contains(Path.Combine(Out, ModelFolderLayout.Unet), e.Message);
            Assert.Contains(Path.Combine(Out, ModelFolderLayout.Guided), e.Message);
        }
        // the two graphs of one export load together
        using var ok = DiffusionPipeline.Load(first, new RuntimeOptions { IntraOpThreads = 1 });
        Assert.NotNull(ok.Guided);
    }

    [Fact]
    public void A_failed_export_leaves_the_previous_folder_byte_identical()
    {
        Assert.Equal(0, Export(Checkpoint(5), Data()));
        File.WriteAllText(Path.Combine(Out, ModelFolderLayout.JudgeCard), "{}");
        var before = Snapshot(Out);

        // checked before any work: a truncated IDX file of the calibration data
        string truncated = Data(name: "truncated", truncate: true);
        Assert.Equal(InvalidInputException.ExitCode, Export(Checkpoint(6), truncated));
        Assert.Contains("truncated", Stderr.ToString());
        AssertSame(before, Out);

        // found late, after the float32 graphs and the card were written: images of another size than the model's
        string wrongSize = Data(size: 32, name: "size32");
        Stdout.GetStringBuilder().Clear();
        Assert.Equal(InvalidInputException.ExitCode, Export(Checkpoint(7), wrongSize));
        Assert.Contains("32x32", Stderr.ToString());
        Assert.DoesNotContain("wrote", Stdout.ToString()); // nothing is reported as written that is not
        AssertSame(before, Out);
        AssertNothingLeftBeside();

        // on a fresh folder a late failure leaves no folder at all
        string fresh = Path.Combine(Dir, "fresh");
        Assert.Equal(InvalidInputException.ExitCode, Export(Checkpoint(8), wrongSize, fresh));
        Assert.False(Directory.Exists(fresh));
        AssertNothingLeftBeside();
    }

    [Fact]
    public void A_second_export_into_a_folder_in_use_is_refused()
    {
        using (FolderLock.AcquireBeside(Out, "Model folder"))
        {
            Assert.Equal(InvalidInputException.ExitCode, Export(Checkpoint(9), null));
            Assert.Contains($"in use by process {Environment.ProcessId}", Stderr.ToString());
            Assert.False(Directory.Exists(Out));
        }
        Assert.Equal(0, Export(Checkpoint(9), null));
        AssertNothingLeftBeside();
    }

    [Fact]
    public void The_int8_command_replaces_the_folder_as_a_whole_too()
    {
        Assert.Equal(0, Export(Checkpoint(13), null));
        File.WriteAllText(Path.Combine(Out, ModelFolderLayout.JudgeCard), "{}");
        var before = Snapshot(Out);
        // bad data: refused before anything is written
        Assert.Equal(InvalidInputException.ExitCode, ExportCli.Run(["int8", "--model", Out, "--data", Data(name: "t", truncate: true)], Stdout, Stderr));
        AssertSame(before, Out);
        Assert.Equal(0, ExportCli.Run(["int8", "--model", Out, "--data", Data()], Stdout, Stderr));
        foreach (var (fl, q) in ModelFolderLayout.Int8Pairs)
        {
            Assert.Equal(before[fl], File.ReadAllBytes(Path.Combine(Out, fl)));
            Assert.Equal(Meta(Path.Combine(Out, fl)).CheckpointSha256, Meta(Path.Combine(Out, q)).CheckpointSha256);
        }
        Assert.Contains("\"int8\"", File.ReadAllText(Path.Combine(Out, ModelFolderLayout.CardJson)));
        Assert.Equal("{}", File.ReadAllText(Path.Combine(Out, ModelFolderLayout.JudgeCard)));
        AssertNothingLeftBeside();
    }

    // kill -9 while the new folder is being written: the old folder stays as it was, and the next export clears
    // the dead process's staging folder.
    [Fact]
    public void A_killed_export_leaves_the_previous_folder_byte_identical_and_the_next_export_cleans_up()
    {
        string data = Data();
        Assert.Equal(0, Export(Checkpoint(10), data));
        var before = Snapshot(Out);

        string cli = ExportCliDll();
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { cli, "export", "--checkpoint", Checkpoint(11), "--out", Out, "--data", data }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var sw = Stopwatch.StartNew();
        string? staging = null;
        while (staging is null && !p.HasExited && sw.Elapsed < TimeSpan.FromMinutes(2))
        {
            // wait until the new graph is in the staging folder (not yet swapped in: after the swap that name holds
            // the old folder while it is deleted), then kill
            staging = Directory.GetDirectories(Dir, $".{Path.GetFileName(Out)}.*.tmp").FirstOrDefault(d =>
            {
                try { return !File.ReadAllBytes(Path.Combine(d, ModelFolderLayout.Unet)).AsSpan().SequenceEqual(before[ModelFolderLayout.Unet]); }
                catch (IOException) { return false; }
            });
            if (staging is null) Thread.Sleep(5);
        }
        if (staging is null) Assert.Fail($"the export finished (exit {(p.HasExited ? p.ExitCode : -1)}) before its staging folder was seen: {p.StandardError.ReadToEnd()}");
        p.Kill();
        p.WaitForExit();
        AssertSame(before, Out);
        Assert.True(Directory.Exists(staging));

        Assert.Equal(0, Export(Checkpoint(12), null));
        Assert.False(Directory.Exists(staging), "the dead export's staging folder was not removed");
        AssertNothingLeftBeside();
    }

    private static string ExportCliDll()
    {
        // the command line beside the library, built by `make test` with the solution, in this test's configuration
        var bin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string tfm = bin.Name, config = bin.Parent!.Name;
        string root = bin.FullName;
        while (!File.Exists(Path.Combine(root, "Pipeline.sln"))) root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("Pipeline.sln not found");
        string dll = Path.Combine(root, "export", "Diffusion.Export.Cli", "bin", config, tfm, "Diffusion.Export.Cli.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: build the solution first (make build)");
        return dll;
    }
}
