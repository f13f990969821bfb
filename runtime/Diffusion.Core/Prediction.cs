namespace Diffusion.Runtime;

/// <summary>What the network predicts from (x_t, t, y).</summary>
public enum PredictionType
{
    /// <summary>The noise epsilon (Ho et al. 2020).</summary>
    Epsilon,
    /// <summary>The clean sample x_0.</summary>
    X0,
    /// <summary>The velocity v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0 (Salimans &amp; Ho 2022, sec. 4).</summary>
    V,
}

/// <summary>
/// A pair of coefficients (a, b) meaning "a * first + b * second", so each conversion is one fused multiply-add
/// per element whether it runs on spans (runtime) or on tensors (trainer).
/// </summary>
/// <param name="A">Coefficient of the first operand.</param>
/// <param name="B">Coefficient of the second operand.</param>
public readonly record struct Coefficients(double A, double B);

/// <summary>
/// Conversions between epsilon, x_0 and v predictions at a timestep with cumulative alpha <c>alphaBar</c>,
/// for x_t = sqrt(alpha_bar) x_0 + sqrt(1 - alpha_bar) eps.
/// </summary>
public static class Prediction
{
    /// <summary>Lower-case name used in configs and metadata: "epsilon", "x0" or "v".</summary>
    public static string Name(PredictionType type) => type switch
    {
        PredictionType.Epsilon => "epsilon",
        PredictionType.X0 => "x0",
        PredictionType.V => "v",
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>Parses "epsilon" (or "eps"), "x0" (or "sample") or "v" (or "v_prediction").</summary>
    /// <exception cref="InvalidInputException">Any other value.</exception>
    public static PredictionType Parse(string value) => value?.Trim().ToLowerInvariant() switch
    {
        "epsilon" or "eps" => PredictionType.Epsilon,
        "x0" or "sample" => PredictionType.X0,
        "v" or "v_prediction" => PredictionType.V,
        _ => throw new InvalidInputException($"Unknown prediction type '{value}'; expected epsilon, x0 or v."),
    };

    /// <summary>Training target = A * x_0 + B * eps.</summary>
    public static Coefficients Target(PredictionType type, double alphaBar)
    {
        double a = Math.Sqrt(alphaBar), s = Math.Sqrt(1 - alphaBar);
        return type switch
        {
            PredictionType.Epsilon => new(0, 1),
            PredictionType.X0 => new(1, 0),
            PredictionType.V => new(-s, a), // v = sqrt(ab) eps - sqrt(1 - ab) x0
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
    }

    /// <summary>Predicted x_0 = A * x_t + B * modelOutput.</summary>
    public static Coefficients ToX0(PredictionType type, double alphaBar)
    {
        double a = Math.Sqrt(alphaBar), s = Math.Sqrt(1 - alphaBar);
        return type switch
        {
            PredictionType.Epsilon => new(1 / a, -s / a), // x0 = (x_t - sqrt(1 - ab) eps) / sqrt(ab)
            PredictionType.X0 => new(0, 1),
            PredictionType.V => new(a, -s),               // x0 = sqrt(ab) x_t - sqrt(1 - ab) v
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
    }

    /// <summary>Predicted eps = A * x_t + B * modelOutput.</summary>
    public static Coefficients ToEpsilon(PredictionType type, double alphaBar)
    {
        double a = Math.Sqrt(alphaBar), s = Math.Sqrt(1 - alphaBar);
        return type switch
        {
            PredictionType.Epsilon => new(0, 1),
            PredictionType.X0 => new(1 / s, -a / s),      // eps = (x_t - sqrt(ab) x0) / sqrt(1 - ab)
            PredictionType.V => new(s, a),                // eps = sqrt(1 - ab) x_t + sqrt(ab) v
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
    }

    /// <summary>dst[i] = c.A * first[i] + c.B * second[i]; spans of equal length.</summary>
    public static void Apply(Coefficients c, ReadOnlySpan<float> first, ReadOnlySpan<float> second, Span<float> dst)
    {
        if (first.Length != second.Length || dst.Length != first.Length)
            throw new ArgumentException($"Span lengths differ: {first.Length}, {second.Length}, {dst.Length}.");
        float a = (float)c.A, b = (float)c.B;
        for (int i = 0; i < dst.Length; i++) dst[i] = a * first[i] + b * second[i];
    }
}
