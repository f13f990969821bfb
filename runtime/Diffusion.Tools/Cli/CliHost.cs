using System.CommandLine;
using Diffusion.Runtime;

namespace Diffusion.Tools.Cli;

/// <summary>
/// What every command line of this repository does around its commands: a parse error or an
/// <see cref="InvalidInputException"/> from a command prints <c>error: ...</c> and exits with
/// <see cref="InvalidInputException.ExitCode"/> (2), and so does a file-system failure (unwritable output, disk full:
/// <c>error: cannot write: ...</c> with the system's message, which names the path); Ctrl+C is the command's own business (<see cref="CancelOnCtrlC"/>),
/// so System.CommandLine installs no handler of its own.
/// </summary>
public static class CliHost
{
    /// <summary>The line printed after parse errors unless a command gives its own.</summary>
    public const string DefaultHelpHint = "Run with --help for the options.";

    /// <summary>Parses <paramref name="args"/> against <paramref name="root"/> and runs the command; returns the exit code.</summary>
    /// <param name="root">The commands.</param>
    /// <param name="args">Command-line arguments.</param>
    /// <param name="stdout">Output (default: the console).</param>
    /// <param name="stderr">Errors (default: the console's error stream).</param>
    /// <param name="helpHint">Line printed after parse errors.</param>
    public static int Run(RootCommand root, string[] args, TextWriter? stdout = null, TextWriter? stderr = null, string helpHint = DefaultHelpHint)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors) stderr.WriteLine($"error: {Plain(e.Message)}");
            stderr.WriteLine(helpHint);
            return InvalidInputException.ExitCode;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
        }
        catch (InvalidInputException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return InvalidInputException.ExitCode;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // an output that became unwritable mid-way (disk full, a folder removed, a read-only mount): the system's
            // message names the path; what was written so far is whole (every writer here writes atomically)
            stderr.WriteLine($"error: cannot write: {string.Join(' ', e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))}");
            return InvalidInputException.ExitCode;
        }
    }

    // System.CommandLine names .NET types ("as expected type 'System.UInt64'"); a user reads what to type instead.
    private static readonly System.Text.RegularExpressions.Regex s_typeName = new(@" as expected type '(System\.[A-Za-z0-9]+)(\?)?'", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>A parse error's message with .NET type names replaced by what the option takes.</summary>
    public static string Plain(string message) => s_typeName.Replace(message, m => "; expected " + m.Groups[1].Value switch
    {
        "System.Int32" or "System.Int64" or "System.Int16" => "a whole number",
        "System.UInt32" or "System.UInt64" or "System.UInt16" or "System.Byte" => "a whole number >= 0",
        "System.Single" or "System.Double" or "System.Decimal" => "a number",
        "System.Boolean" => "true or false",
        "System.String" => "text",
        var other => other[(other.LastIndexOf('.') + 1)..].ToLowerInvariant(),
    });

    /// <summary>
    /// A token the first Ctrl+C cancels (a long command finishes its current step, saves what it can and exits); a
    /// second Ctrl+C ends the process at once.
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
