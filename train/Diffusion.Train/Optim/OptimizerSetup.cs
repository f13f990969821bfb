using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Diffusion.Train.Optim;

/// <summary>
/// AdamW with an externally driven learning rate and gradient-norm clipping: the optimizer side of a training step,
/// shared by the diffusion trainer and any other model trained here (e.g. a classifier).
/// </summary>
public sealed class OptimizerSetup : IDisposable
{
    private readonly Parameter[] _parameters;

    /// <summary>Creates AdamW (Loshchilov &amp; Hutter 2019; betas 0.9 / 0.999) over <paramref name="model"/>'s trainable parameters.</summary>
    public OptimizerSetup(nn.Module model, LearningRateSchedule schedule, double weightDecay, double gradClip)
    {
        _parameters = model.parameters().Where(p => p.requires_grad).ToArray();
        Optimizer = new AdamW(_parameters, schedule.At(0), weightDecay);
        Schedule = schedule; GradClip = gradClip;
    }

    /// <summary>The AdamW optimizer (its state goes into checkpoints).</summary>
    public AdamW Optimizer { get; }
    /// <summary>Learning rate per step.</summary>
    public LearningRateSchedule Schedule { get; }
    /// <summary>Maximum gradient L2 norm (0 = no clipping).</summary>
    public double GradClip { get; }

    /// <summary>
    /// Backpropagates <paramref name="loss"/>, clips, sets the rate for step <paramref name="step"/> and applies AdamW.
    /// Returns the learning rate used and the gradient norm before clipping (NaN when clipping is off).
    /// </summary>
    public (double Lr, double GradNorm) Step(Tensor loss, long step)
    {
        Optimizer.zero_grad();
        loss.backward();
        double norm = GradClip > 0 ? nn.utils.clip_grad_norm_(_parameters, GradClip) : double.NaN;
        double lr = Schedule.At(step);
        foreach (var group in Optimizer.ParamGroups) group.LearningRate = lr;
        Optimizer.step();
        return (lr, norm);
    }

    /// <summary>Saves the optimizer state (TorchSharp's own format) to bytes.</summary>
    public byte[] SaveState()
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) Optimizer.save_state_dict(w);
        return ms.ToArray();
    }

    /// <summary>Restores state saved by <see cref="SaveState"/>.</summary>
    public void LoadState(byte[] state)
    {
        using var r = new BinaryReader(new MemoryStream(state));
        Optimizer.load_state_dict(r);
    }

    /// <inheritdoc/>
    public void Dispose() => Optimizer.Dispose();
}
