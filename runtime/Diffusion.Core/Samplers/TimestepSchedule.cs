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
                // diffusers: np.linspace(0, T - 1, n).round()[::-1]; numpy computes i * step and sets the last
                // point to stop exactly, and rounds half to even
                double step = n == 1 ? 0 : (double)(T - 1) / (n - 1);
                for (int i = 0; i < n; i++)
                    ts[n - 1 - i] = i == n - 1 && n > 1 ? T - 1 : (int)Math.Round(i * step, MidpointRounding.ToEven);
                break;
            case TimestepSpacing.Leading:
                // diffusers: (np.arange(0, n) * (T // n)).round()[::-1] (+ steps_offset, 0 here)
                int ratio = T / n;
                for (int i = 0; i < n; i++) ts[n - 1 - i] = i * ratio;
                break;
            case TimestepSpacing.Trailing:
                // diffusers: np.round(np.arange(T, 0, -T / n)) - 1; numpy's arange fills start + i * delta with
                // delta = (start + step) - start
                double r = (double)T / n;
                double delta = (T - r) - T;
                for (int i = 0; i < n; i++) ts[i] = (int)Math.Round(T + i * delta, MidpointRounding.ToEven) - 1;
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
