namespace Diffusion.Runtime;

/// <summary>
/// The exported U-Net graphs' signature: the one owner of their input, output and dimension names. The exporter
/// declares them, the runtime checks and binds them, the int8 calibration and the benchmarks feed them.
/// <list type="bullet">
/// <item><c>x</c> float [batch, C, H, W]: x_t, pixels in [-1, 1].</item>
/// <item><c>t</c> int64 [batch]: timesteps 0..T-1.</item>
/// <item><c>y</c> int64 [batch]: labels 0..K-1, or K for the null (unconditional) class.</item>
/// <item><c>scale</c> float [batch]: guidance scale, guided graph only (diffusers' convention: 1 = conditional).</item>
/// <item><c>out</c> float [batch, C, H, W]: the model's native prediction (epsilon, x0 or v; the metadata says which).</item>
/// </list>
/// </summary>
public static class UNetSignature
{
    /// <summary>Input x_t.</summary>
    public const string X = "x";
    /// <summary>Input timesteps.</summary>
    public const string T = "t";
    /// <summary>Input labels.</summary>
    public const string Y = "y";
    /// <summary>Input guidance scales (guided graph).</summary>
    public const string Scale = "scale";
    /// <summary>The single output.</summary>
    public const string Output = "out";
    /// <summary>The symbolic batch dimension.</summary>
    public const string BatchDim = "batch";

    /// <summary>Inputs of the plain graph, in order.</summary>
    public static IReadOnlyList<string> PlainInputs { get; } = [X, T, Y];
    /// <summary>Inputs of the guided graph, in order.</summary>
    public static IReadOnlyList<string> GuidedInputs { get; } = [X, T, Y, Scale];

    /// <summary>The inputs of a graph kind, in order.</summary>
    public static IReadOnlyList<string> Inputs(GraphKind kind) => kind == GraphKind.Unet ? PlainInputs : GuidedInputs;

    /// <summary>The ONNX graph's name (<c>graph.name</c>) of a graph kind.</summary>
    public static string GraphName(GraphKind kind) => ModelMetadata.GraphName(kind).Replace('-', '_');
}
