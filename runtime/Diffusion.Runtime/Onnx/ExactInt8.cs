using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Runtime.Onnx;

/// <summary>
/// Makes ONNX Runtime's int8 convolutions exact on every x86 CPU. Without VNNI (AVX2, AVX-512F), its u8 x s8 kernel
/// multiplies with <c>vpmaddubsw</c>, which adds two products in a saturating 16-bit integer: 255 x 127 x 2 overflows
/// and is clipped, so one int8 graph gives other outputs there than on a CPU with VNNI. The session option
/// <see cref="ConfigKey"/> makes ONNX Runtime rewrite the int8 weights to u8 (u8 x u8 kernels accumulate in 32 bits)
/// on exactly those CPUs; elsewhere it does nothing. The runtime sets it unless <see cref="RuntimeOptions.ExactInt8"/>
/// is off; the exporter sets it where it measures an int8 graph's parity, so the number on a model card is the number
/// every CPU reproduces.
/// </summary>
public static class ExactInt8
{
    /// <summary>ONNX Runtime's session configuration key (<c>kOrtSessionOptionsAvx2PrecisionMode</c>).</summary>
    public const string ConfigKey = "session.x64quantprecision";

    /// <summary>Turns the exact int8 kernels on in <paramref name="options"/>.</summary>
    public static void Apply(SessionOptions options) => options.AddSessionConfigEntry(ConfigKey, "1");
}
