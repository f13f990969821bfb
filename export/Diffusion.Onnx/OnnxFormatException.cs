namespace Diffusion.Onnx;

/// <summary>A file that is not a readable ONNX model (missing, not protobuf, no graph); the message names the file.</summary>
public class OnnxFormatException : Exception
{
    /// <summary>Creates the exception with a message that names the file and the problem.</summary>
    public OnnxFormatException(string message) : base(message) { }

    /// <summary>Creates the exception wrapping the parser's error.</summary>
    public OnnxFormatException(string message, Exception inner) : base(message, inner) { }
}
