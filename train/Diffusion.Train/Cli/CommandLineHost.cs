using System.CommandLine;
using Diffusion.Runtime;

namespace Diffusion.Train.Cli;

/// <summary>What every TorchSharp command line here does around its commands: parse errors exit 2, Ctrl+C stops cleanly.</summary>
public static class CommandLineHost
{
    /// <summary>
    /// Parses <paramref name="args"/> against <paramref name="root"/>; parse errors are printed to
    /// <paramref name="stderr"/> and return <see cref="InvalidInputException.ExitCode"/>, otherwise the command runs
    /// with the given writers and its exit code is returned.
    /// </summary>
    public static int Invoke(RootCommand root, string[] args, TextWriter stdout, TextWriter stderr)
    {
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) stderr.WriteLine($"error: {e.Message}");
            stderr.WriteLine("Run with --help for the options.");
            return InvalidInputException.ExitCode;
        }
        return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = true, ProcessTerminationTimeout = null });
    }

    /// <summary>
    /// A token the first Ctrl+C cancels (the running command finishes its current step, saves a resumable checkpoint
    /// and exits); a second Ctrl+C ends the process at once.
    /// </summary>
    public static CancellationTokenSource CancelOnCtrlC()
    {
        var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            if (cts.IsCancellationRequested) return;
            e.Cancel = true;
            Console.Error.WriteLine("stopping after the current step (Ctrl+C again to abort)...");
            cts.Cancel();
        };
        return cts;
    }
}
