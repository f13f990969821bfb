using Diffusion.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Train.Training;

/// <summary>
/// The DDPM training objective (Ho et al. 2020, Alg. 1) with classifier-free label dropout (Ho &amp; Salimans 2022):
/// t ~ U{0..T-1}, eps ~ N(0, I), x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps (eq. 4),
/// loss = || model(x_t, t, y') - target ||^2 where target = A_t x_0 + B_t eps comes from <see cref="Prediction.Target"/>
/// and y' is y replaced by the null class with probability p. Every coefficient is read from the runtime's
/// <see cref="NoiseSchedule"/> and <see cref="Prediction"/> (double precision) into per-timestep tensors made once.
/// With min-SNR-gamma weighting (Hang et al. 2023) each image's MSE is weighted by <see cref="MinSnrWeight"/>.
/// </summary>
public sealed class DiffusionObjective : IDisposable
{
    private readonly Tensor _qA, _qB, _targetA, _targetB; // [T] float32
    private readonly Tensor? _weight;                      // [T] float32, null: uniform

    /// <summary>Creates the objective.</summary>
    /// <param name="schedule">Noise schedule (its double-precision arrays are read once).</param>
    /// <param name="prediction">Training target.</param>
    /// <param name="nullClass">Label of the null class (= number of classes).</param>
    /// <param name="labelDropout">Probability of replacing a label by the null class.</param>
    /// <param name="device">Device of the per-timestep tensors.</param>
    /// <param name="minSnrGamma">gamma of min-SNR-gamma weighting; 0 = the plain MSE.</param>
    public DiffusionObjective(NoiseSchedule schedule, PredictionType prediction, int nullClass, double labelDropout, Device device, double minSnrGamma = 0)
    {
        Schedule = schedule; Prediction = prediction; NullClass = nullClass; LabelDropout = labelDropout; MinSnrGamma = minSnrGamma;
        int n = schedule.T;
        var qA = new float[n]; var qB = new float[n]; var tA = new float[n]; var tB = new float[n]; var w = new float[n];
        for (int t = 0; t < n; t++)
        {
            qA[t] = (float)schedule.SqrtAlphasCumprod[t];
            qB[t] = (float)schedule.SqrtOneMinusAlphasCumprod[t];
            var c = Runtime.Prediction.Target(prediction, schedule.AlphasCumprod[t]);
            tA[t] = (float)c.A; tB[t] = (float)c.B;
            if (minSnrGamma > 0) w[t] = (float)MinSnrWeight(prediction, schedule.AlphasCumprod[t], minSnrGamma);
        }
        _qA = tensor(qA, device: device); _qB = tensor(qB, device: device);
        _targetA = tensor(tA, device: device); _targetB = tensor(tB, device: device);
        if (minSnrGamma > 0) _weight = tensor(w, device: device);
    }

    /// <summary>
    /// The min-SNR-gamma weight of the target's MSE at a timestep with cumulative alpha <paramref name="alphaBar"/>
    /// (Hang et al. 2023, eq. 7; diffusers' train_text_to_image <c>snr_gamma</c>):
    /// (1) SNR = alpha_bar / (1 - alpha_bar);
    /// (2) the x0 loss gets weight min(SNR, gamma);
    /// (3) the target's squared error is SNR (epsilon), SNR + 1 (v) or 1 (x0) times the x0 one, so the target's MSE
    ///     gets min(SNR, gamma) / SNR, min(SNR, gamma) / (SNR + 1) or min(SNR, gamma).
    /// </summary>
    public static double MinSnrWeight(PredictionType prediction, double alphaBar, double gamma)
    {
        double snr = alphaBar / (1 - alphaBar);                                       // (1)
        double x0Weight = Math.Min(snr, gamma);                                      // (2)
        return prediction switch                                                     // (3)
        {
            PredictionType.Epsilon => snr > 0 ? x0Weight / snr : 1,                // the limit as SNR -> 0
            PredictionType.V => x0Weight / (snr + 1),
            PredictionType.X0 => x0Weight,
            _ => throw new ArgumentOutOfRangeException(nameof(prediction), prediction, null),
        };
    }

    /// <summary>The schedule.</summary>
    public NoiseSchedule Schedule { get; }
    /// <summary>The prediction type (training target).</summary>
    public PredictionType Prediction { get; }
    /// <summary>Null class label.</summary>
    public int NullClass { get; }
    /// <summary>Probability of replacing a label by the null class.</summary>
    public double LabelDropout { get; }
    /// <summary>gamma of min-SNR-gamma weighting (0 = uniform).</summary>
    public double MinSnrGamma { get; }

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
        using Scalar dropout = LabelDropout.ToScalar(), nullClass = NullClass.ToScalar();  // held: see Optim/AdamW.cs
        var dropped = rand(n, device: x0.device) < dropout;
        var yIn = where(dropped, full_like(y, nullClass), y);
        var t = randint(0, Schedule.T, [n], dtype: int64, device: x0.device);
        var eps = randn_like(x0);
        var output = model(QSample(x0, t, eps), t, yIn);
        if (_weight is null) return nn.functional.mse_loss(output, Target(x0, t, eps));
        var perImage = (output - Target(x0, t, eps)).square().mean([1, 2, 3]);      // [N]
        return (_weight.index_select(0, t) * perImage).mean();
    }

    private static Tensor Gather(Tensor table, Tensor t) => table.index_select(0, t).view(-1, 1, 1, 1);

    /// <inheritdoc/>
    public void Dispose()
    {
        _qA.Dispose(); _qB.Dispose(); _targetA.Dispose(); _targetB.Dispose(); _weight?.Dispose();
    }
}
