namespace Diffusion.Runtime;

/// <summary>Pixel convention: [-1, 1] inside models, 0-255 bytes on disk.</summary>
public static class Pixels
{
    /// <summary>Lowest model-space value.</summary>
    public const float Min = -1f;
    /// <summary>Highest model-space value.</summary>
    public const float Max = 1f;
    /// <summary>Range string written in model metadata.</summary>
    public const string RangeName = "[-1,1]";

    /// <summary>Byte 0-255 to model space: b / 127.5 - 1.</summary>
    public static float ToModel(byte b) => b / 127.5f - 1f;

    /// <summary>Model space to byte: clamp to [-1, 1], then round((v + 1) * 127.5).</summary>
    public static byte ToByte(float v)
    {
        if (float.IsNaN(v)) return 0;
        float c = Math.Clamp(v, Min, Max);
        return (byte)MathF.Round((c + 1f) * 127.5f, MidpointRounding.AwayFromZero);
    }

    /// <summary>Converts a span of bytes to model space.</summary>
    public static void ToModel(ReadOnlySpan<byte> src, Span<float> dst)
    {
        for (int i = 0; i < src.Length; i++) dst[i] = ToModel(src[i]);
    }

    /// <summary>Converts a span of model-space values to bytes.</summary>
    public static void ToBytes(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int i = 0; i < src.Length; i++) dst[i] = ToByte(src[i]);
    }
}
