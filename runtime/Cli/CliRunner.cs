using System.CommandLine;

namespace Diffusion.Runtime.Cli;

/// <summary>
/// What every command line of this repository does around its commands (a source file linked into each CLI project, so
/// the embeddable runtime does not depend on System.CommandLine): a parse error or an <see cref="InvalidInputException"/>
/// from a command prints <c>error: ...</c> and exits with <see cref="InvalidInputException.ExitCode"/>.
/// </summary>
internal static class CliRunner
{
    /// <summary>Parses <paramref name="args"/> against <paramref name="root"/> and runs the command; returns the exit code.</summary>
    /// <param name="root">The commands.</param>
    /// <param name="args">Command-line arguments.</param>
    /// <param name="stdout">Output (default: the console).</param>
    /// <param name="stderr">Errors (default: the console's error stream).</param>
    /// <param name="helpHint">Line printed after parse errors.</param>
    public static int Run(RootCommand root, string[] args, TextWriter? stdout = null, TextWriter? stderr = null, string helpHint = "Run with --help for the options.")
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors) stderr.WriteLine($"error: {e.Message}");
            stderr.WriteLine(helpHint);
            return InvalidInputException.ExitCode;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (InvalidInputException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return InvalidInputException.ExitCode;
        }
    }
}
