
namespace Diffusion.Onnx;

/// <summary>
/// Opset versions the builder writes, and the IR version each needs (ONNX's Versioning.md table: opsets 15-18
/// go with IR 8, 19-20 with IR 9, 21-22 with IR 10, 23 with IR 11). A model's IR version is the lowest that
/// the opset requires, so the widest set of consumers can read it.
/// </summary>
public static class OnnxOpset
{
    /// <summary>Default opset: 17, supported by every current ONNX consumer (ONNX Runtime, TensorRT, OpenVINO).</summary>
    public const int Default = 17;
    /// <summary>Lowest opset the builder writes (it relies on Split/Unsqueeze taking their sizes and axes as inputs).</summary>
    public const int Min = 17;
    /// <summary>Highest opset the builder writes.</summary>
    public const int Max = 23;

    /// <summary>IR version that goes with <paramref name="opset"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Opset outside <see cref="Min"/>..<see cref="Max"/>.</exception>
    public static long IrVersion(int opset) => Validate(opset) switch
    {
        <= 18 => 8,
        <= 20 => 9,
        <= 22 => 10,
        _ => 11,
    };

    /// <summary>Returns <paramref name="opset"/> when it is supported.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Opset outside <see cref="Min"/>..<see cref="Max"/>.</exception>
    public static int Validate(int opset) => IsSupported(opset) ? opset
        : throw new ArgumentOutOfRangeException(nameof(opset), opset, $"opset {opset} is not supported; expected {Min}..{Max} (default {Default}).");

    /// <summary>True for <see cref="Min"/>..<see cref="Max"/>.</summary>
    public static bool IsSupported(int opset) => opset is >= Min and <= Max;
}
