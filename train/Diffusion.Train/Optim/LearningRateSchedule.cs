namespace Diffusion.Train.Optim;

/// <summary>
/// Linear warmup from 0 to the peak rate over <see cref="WarmupSteps"/> steps, then half-cosine decay to
/// <see cref="MinLr"/> at <see cref="TotalSteps"/> (Loshchilov &amp; Hutter 2017, SGDR without restarts).
/// A pure function of the step, so a resumed run continues on the same curve.
/// </summary>
/// <param name="PeakLr">Rate reached at the end of warmup.</param>
/// <param name="MinLr">Rate at the last step.</param>
/// <param name="WarmupSteps">Warmup length in steps.</param>
/// <param name="TotalSteps">Steps of the whole run.</param>
public sealed record LearningRateSchedule(double PeakLr, double MinLr, int WarmupSteps, long TotalSteps)
{
    /// <summary>Learning rate for the optimizer step with 0-based index <paramref name="step"/>.</summary>
    public double At(long step)
    {
        if (step < WarmupSteps) return PeakLr * (step + 1) / WarmupSteps;
        long decay = Math.Max(1, TotalSteps - WarmupSteps);
        double progress = Math.Clamp((double)(step - WarmupSteps) / decay, 0, 1);
        return MinLr + (PeakLr - MinLr) * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }
}
