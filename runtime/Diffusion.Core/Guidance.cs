namespace Diffusion.Runtime;

/// <summary>
/// Classifier-free guidance (Ho &amp; Salimans 2022) in diffusers' convention: <c>uncond + s * (cond - uncond)</c>,
/// so s = 1 is the plain conditional model and s = 0 the unconditional one. The other common convention,
/// <c>(1 + w) * cond - w * uncond</c>, is the same with s = 1 + w.
/// </summary>
public static class Guidance
{
    /// <summary>Name written in model metadata for this convention.</summary>
    public const string Convention = "diffusers";

    /// <summary>dst = uncond + scale * (cond - uncond), element-wise.</summary>
    public static void Combine(ReadOnlySpan<float> cond, ReadOnlySpan<float> uncond, float scale, Span<float> dst)
    {
        if (cond.Length != uncond.Length || dst.Length != cond.Length)
            throw new ArgumentException($"Span lengths differ: {cond.Length}, {uncond.Length}, {dst.Length}.");
        for (int i = 0; i < dst.Length; i++) dst[i] = uncond[i] + scale * (cond[i] - uncond[i]);
    }

    /// <summary>Converts the "(1 + w) cond - w uncond" weight w to this convention's scale (1 + w).</summary>
    public static float ScaleFromW(float w) => 1f + w;

    /// <summary>Checks a guidance scale: finite and not negative.</summary>
    /// <exception cref="InvalidInputException">NaN, infinite or negative.</exception>
    public static void Validate(float scale)
    {
        if (!float.IsFinite(scale) || scale < 0)
            throw new InvalidInputException($"Guidance scale {scale} is invalid; expected a finite number >= 0 (1 = conditional, 0 = unconditional).");
    }
}
