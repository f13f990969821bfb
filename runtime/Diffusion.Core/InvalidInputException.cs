namespace Diffusion.Runtime;

/// <summary>
/// Bad input from a user: a file, value or option that is wrong. Command-line tools catch it, print the
/// message and exit with code 2 (<see cref="ExitCode"/>). The message always names the problem: the file or
/// option, the value found and what was expected.
/// </summary>
public class InvalidInputException : Exception
{
    /// <summary>Exit code every command uses for bad input.</summary>
    public const int ExitCode = 2;

    /// <summary>Creates the exception with a message that names the file or value and what was expected.</summary>
    public InvalidInputException(string message) : base(message) { }

    /// <summary>Creates the exception wrapping the underlying cause.</summary>
    public InvalidInputException(string message, Exception inner) : base(message, inner) { }
}
