using Diffusion.Runtime;
using static TorchSharp.torch;

namespace Diffusion.Train.Training;

/// <summary>
/// The DDPM training objective (Ho et al. 2020, Alg. 1) with classifier-free label dropout (Ho &amp; Salimans 2022):
/// t ~ U{0..T-1}, eps ~ N(0, I), x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps (eq. 4),
/// loss = || model(x_t, t, y') - target ||^2 where target = A_t x_0 + B_t eps comes from <see cref="Prediction.Target"/>
/// and y' is y replaced by the null class with probability p. Every coefficient is read from the runtime's
/// <see cref="NoiseSchedule"/> and <see cref="Prediction"/> (double precision) into per-timestep tensors made once.
/// </summary>
public sealed class DiffusionObjective : IDisposable
{
    private readonly Tensor _qA, _qB, _targetA, _targetB; // [T] float32

    /// <summary>Creates the objective for <paramref name="schedule"/> and <paramref name="prediction"/> on <paramref name="device"/>.</summary>
    public DiffusionObjective(NoiseSchedule schedule, PredictionType prediction, int nullClass, double labelDropout, Device device)
    {
        Schedule = schedule; Prediction = prediction; NullClass = nullClass; LabelDropout = labelDropout;
        int n = schedule.T;
        var qA = new float[n]; var qB = new float[n]; var tA = new float[n]; var tB = new float[n];
        for (int t = 0; t < n; t++)
        {
            qA[t] = (float)schedule.SqrtAlphasCumprod[t];
            qB[t] = (float)schedule.SqrtOneMinusAlphasCumprod[t];
            var c = Runtime.Prediction.Target(prediction, schedule.AlphasCumprod[t]);
            tA[t] = (float)c.A; tB[t] = (float)c.B;
        }
        _qA = tensor(qA, device: device); _qB = tensor(qB, device: device);
        _targetA = tensor(tA, device: device); _targetB = tensor(tB, device: device);
    }

    /// <summary>The schedule.</summary>
    public NoiseSchedule Schedule { get; }
    /// <summary>The prediction type (training target).</summary>
    public PredictionType Prediction { get; }
    /// <summary>Null class label.</summary>
    public int NullClass { get; }
    /// <summary>Probability of replacing a label by the null class.</summary>
    public double LabelDropout { get; }

    /// <summary>x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps for x0, eps [N, C, H, W] and t [N] int64.</summary>
    public Tensor QSample(Tensor x0, Tensor t, Tensor eps) => Gather(_qA, t) * x0 + Gather(_qB, t) * eps;

    /// <summary>Training target A_t x_0 + B_t eps (epsilon, x0 or v), [N, C, H, W].</summary>
    public Tensor Target(Tensor x0, Tensor t, Tensor eps) => Gather(_targetA, t) * x0 + Gather(_targetB, t) * eps;

    /// <summary>
    /// MSE loss of <paramref name="model"/> on a batch x0 [N, C, H, W] in [-1, 1] with labels y [N] int64.
    /// Draws label dropout, t and eps from the global torch generator, in that order.
    /// </summary>
    public Tensor Loss(Func<Tensor, Tensor, Tensor, Tensor> model, Tensor x0, Tensor y)
    {
        long n = x0.shape[0];
        var dropped = rand(n, device: x0.device) < LabelDropout;
        var yIn = where(dropped, full_like(y, NullClass), y);
        var t = randint(0, Schedule.T, [n], dtype: int64, device: x0.device);
        var eps = randn_like(x0);
        var output = model(QSample(x0, t, eps), t, yIn);
        return nn.functional.mse_loss(output, Target(x0, t, eps));
    }

    private static Tensor Gather(Tensor table, Tensor t) => table.index_select(0, t).view(-1, 1, 1, 1);

    /// <inheritdoc/>
    public void Dispose()
    {
        _qA.Dispose(); _qB.Dispose(); _targetA.Dispose(); _targetB.Dispose();
    }
}
