namespace Diffusion.Runtime.Samplers;

/// <summary>Inference timestep selection shared by all samplers.</summary>
public static class TimestepSchedule
{
    /// <summary>
    /// <paramref name="n"/> timesteps from 0..<paramref name="T"/>-1, descending, laid out as diffusers'
    /// <c>timestep_spacing</c> does (steps_offset 0).
    /// </summary>
    /// <exception cref="InvalidInputException">n below 1 or above T.</exception>
    public static int[] Create(int T, int n, TimestepSpacing spacing)
    {
        if (n < 1 || n > T) throw new InvalidInputException($"Sampling steps = {n}; expected 1 to T = {T}.");
        var ts = new int[n];
        switch (spacing)
        {
            case TimestepSpacing.Linspace:
                for (int i = 0; i < n; i++) ts[n - 1 - i] = (int)Math.Round(n == 1 ? 0 : (double)(T - 1) * i / (n - 1), MidpointRounding.ToEven);
                break;
            case TimestepSpacing.Leading:
                int ratio = T / n;
                for (int i = 0; i < n; i++) ts[n - 1 - i] = i * ratio;
                break;
            case TimestepSpacing.Trailing:
                double r = (double)T / n;
                for (int i = 0; i < n; i++) ts[i] = (int)Math.Round(T - i * r, MidpointRounding.ToEven) - 1;
                break;
            default: throw new ArgumentOutOfRangeException(nameof(spacing));
        }
        return ts;
    }

    /// <summary>Parses "linspace", "leading" or "trailing".</summary>
    /// <exception cref="InvalidInputException">Any other value.</exception>
    public static TimestepSpacing ParseSpacing(string value) => value?.Trim().ToLowerInvariant() switch
    {
        "linspace" => TimestepSpacing.Linspace,
        "leading" => TimestepSpacing.Leading,
        "trailing" => TimestepSpacing.Trailing,
        _ => throw new InvalidInputException($"Unknown timestep spacing '{value}'; expected linspace, leading or trailing."),
    };
}
