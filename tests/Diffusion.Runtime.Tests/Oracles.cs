using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Samplers;

namespace Diffusion.Runtime.Tests;

/// <summary>Exact model outputs worked out independently of the runtime's conversion code.</summary>
internal static class Oracles
{
    /// <summary>Model output of a perfect network of <paramref name="type"/> given the true eps at x_t (double math).</summary>
    public static float Output(PredictionType type, double ab, double xt, double eps)
    {
        double x0 = (xt - Math.Sqrt(1 - ab) * eps) / Math.Sqrt(ab);
        return (float)(type switch
        {
            PredictionType.Epsilon => eps,
            PredictionType.X0 => x0,
            PredictionType.V => Math.Sqrt(ab) * eps - Math.Sqrt(1 - ab) * x0, // Salimans & Ho 2022
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        });
    }

    /// <summary>
    /// For data x0 ~ N(m, s^2) and x_t = sqrt(ab) x0 + sqrt(1 - ab) eps: x_t ~ N(sqrt(ab) m, ab s^2 + 1 - ab) and
    /// E[eps | x_t] = Cov(eps, x_t) / Var(x_t) (x_t - E x_t) = sqrt(1 - ab) (x_t - sqrt(ab) m) / (ab s^2 + 1 - ab).
    /// </summary>
    public static double GaussianEps(double ab, double xt, double m, double s)
        => (xt - Math.Sqrt(ab) * m) * Math.Sqrt(1 - ab) / (ab * s * s + 1 - ab);

    /// <summary>Runs a sampler over a flat sample with a model function; noise from <see cref="GaussianNoise"/>.</summary>
    public static float[] Sample(ISampler sampler, int steps, float[] xT, Action<int, float[], float[]> model, ulong seed = 5, int sampleSize = 0)
    {
        sampler.SetTimesteps(steps);
        int n = xT.Length;
        var x = (float[])xT.Clone();
        var output = new float[n]; var prev = new float[n]; var x0 = new float[n]; var noise = new float[n];
        for (int k = 0; k < sampler.Timesteps.Count; k++)
        {
            int t = sampler.Timesteps[k];
            model(t, x, output);
            if (sampler.UsesNoise) GaussianNoise.Fill(seed, 0, (uint)(k + 1), noise);
            sampler.Step(output, t, x, noise, prev, x0, sampleSize == 0 ? n : sampleSize);
            (x, prev) = (prev, x);
        }
        return x;
    }

    public static ModelMetadata Metadata(int classes = 10, int c = 1, int h = 4, int w = 4, int T = 1000,
        NoiseScheduleKind schedule = NoiseScheduleKind.Linear, PredictionType prediction = PredictionType.Epsilon, GraphKind graph = GraphKind.Unet)
        => new()
        {
            Graph = graph, Dataset = "oracle", ClassNames = Enumerable.Range(0, classes).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray(),
            Channels = c, Height = h, Width = w, NumClasses = classes, Timesteps = T, Schedule = schedule,
            ScheduleParameters = new NoiseSchedule(schedule, T).Parameters, Prediction = prediction, ConfigSha256 = "test", SourceCommit = "test",
        };
}

/// <summary>
/// A class-conditional Gaussian "model": class y has data N(m_y, s^2) per pixel, m_y = (y - 4.5) / 6, and the null class
/// N(0, s^2); the output is the exact prediction of its type. The guided variant returns uncond + scale (cond - uncond).
/// Batches allocate nothing per Run.
/// </summary>
internal sealed class GaussianOracle(ModelMetadata metadata, double s = 0.5) : IDenoiser
{
    private readonly NoiseSchedule _schedule = metadata.CreateSchedule();
    public ModelMetadata Metadata { get; } = metadata;
    public double S { get; } = s;
    public bool IsGuided => Metadata.Graph == GraphKind.Guided;
    public int Runs;
    public double Mean(long y) => y >= Metadata.NumClasses ? 0 : (y - 4.5) / 6;
    public IDenoiserBatch CreateBatch(int batchSize) => new Batch(this, batchSize);

    private sealed class Batch(GaussianOracle o, int n) : IDenoiserBatch
    {
        private readonly int _size = o.Metadata.Channels * o.Metadata.Height * o.Metadata.Width;
        private readonly float[] _x = new float[n * o.Metadata.Channels * o.Metadata.Height * o.Metadata.Width];
        private readonly float[] _out = new float[n * o.Metadata.Channels * o.Metadata.Height * o.Metadata.Width];
        private readonly long[] _t = new long[n], _y = new long[n];
        private readonly float[] _scale = o.IsGuided ? new float[n] : [];
        public int BatchSize => n;
        public Span<float> X => _x;
        public Span<long> T => _t;
        public Span<long> Y => _y;
        public Span<float> Scale => _scale;
        public ReadOnlySpan<float> Output => _out;
        public void Run()
        {
            Interlocked.Increment(ref o.Runs);
            for (int j = 0; j < n; j++)
            {
                double ab = o._schedule.AlphasCumprod[_t[j]];
                double mc = o.Mean(_y[j]), mu = o.Mean(o.Metadata.NumClasses);
                for (int k = j * _size; k < (j + 1) * _size; k++)
                {
                    double cond = Oracles.Output(o.Metadata.Prediction, ab, _x[k], Oracles.GaussianEps(ab, _x[k], mc, o.S));
                    if (!o.IsGuided) { _out[k] = (float)cond; continue; }
                    double uncond = Oracles.Output(o.Metadata.Prediction, ab, _x[k], Oracles.GaussianEps(ab, _x[k], mu, o.S));
                    _out[k] = (float)(uncond + _scale[j] * (cond - uncond));
                }
            }
        }
        public void Dispose() { }
    }
}
