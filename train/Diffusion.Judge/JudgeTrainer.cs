using Diffusion.Train.Optim;
using System.Diagnostics;
using Diffusion.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using Diffusion.Tools;
using Diffusion.Imaging;

namespace Diffusion.Judge;

/// <summary>Settings of one judge training run.</summary>
public sealed record JudgeTrainOptions
{
    /// <summary>Dataset name ("mnist" or "fashion-mnist").</summary>
    public string Dataset { get; init; } = "mnist";
    /// <summary>Folder with the IDX files (train and t10k splits) or an image folder (train/ and test/).</summary>
    public string Data { get; init; } = "data/mnist";
    /// <summary>Passes over the training set.</summary>
    public int Epochs { get; init; } = 4;
    /// <summary>Images per optimizer step.</summary>
    public int BatchSize { get; init; } = 128;
    /// <summary>Peak learning rate of AdamW (after warm-up, then cosine decay to 0).</summary>
    public double LearningRate { get; init; } = 2e-3;
    /// <summary>AdamW decoupled weight decay.</summary>
    public double WeightDecay { get; init; } = 5e-4;
    /// <summary>Augmentation: each training image is shifted by up to this many pixels in x and y (0 = none).</summary>
    public int MaxShift { get; init; } = 2;
    /// <summary>Random seed (weights, shuffling, shifts).</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Use only the first N training images (0 = all); for tests.</summary>
    public int Limit { get; init; }

    /// <summary>Checks every value.</summary>
    /// <exception cref="InvalidInputException">The message names the option and value.</exception>
    public void Validate()
    {
        if (Epochs < 1) throw new InvalidInputException($"--epochs {Epochs}; expected >= 1.");
        if (BatchSize < 1) throw new InvalidInputException($"--batch {BatchSize}; expected >= 1.");
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) throw new InvalidInputException($"--lr {LearningRate}; expected a positive number.");
        if (!(WeightDecay >= 0)) throw new InvalidInputException($"--weight-decay {WeightDecay}; expected >= 0.");
        if (MaxShift < 0 || MaxShift > 8) throw new InvalidInputException($"--shift {MaxShift}; expected 0 to 8 pixels.");
        if (Limit < 0) throw new InvalidInputException($"--limit {Limit}; expected >= 0.");
    }
}

/// <summary>Accuracy of a classifier on a labelled set.</summary>
/// <param name="Accuracy">Fraction correct, 0-1.</param>
/// <param name="PerClass">Fraction correct per true class, index = label (NaN when a class is absent).</param>
/// <param name="Count">Images scored.</param>
public sealed record ClassifierScore(double Accuracy, double[] PerClass, int Count);

/// <summary>Progress of a training run, reported once per optimizer step.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Step">Steps done in this epoch.</param>
/// <param name="StepsPerEpoch">Steps per epoch.</param>
/// <param name="Loss">Running mean loss this epoch.</param>
/// <param name="LearningRate">Current learning rate.</param>
/// <param name="ImagesPerSecond">Throughput this epoch.</param>
public readonly record struct JudgeProgress(int Epoch, int Step, int StepsPerEpoch, double Loss, double LearningRate, double ImagesPerSecond);

/// <summary>
/// Trains <see cref="JudgeCnn"/> with cross-entropy, AdamW, linear warm-up then cosine decay, and random
/// shifts of up to <see cref="JudgeTrainOptions.MaxShift"/> pixels (background filled with -1). Deterministic
/// for a seed on CPU.
/// </summary>
public static class JudgeTrainer
{
    /// <summary>Trains a new judge; returns the model (eval mode) and the seconds spent training.</summary>
    /// <param name="options">Validated settings.</param>
    /// <param name="config">Architecture (NumClasses must match the data).</param>
    /// <param name="train">Training split.</param>
    /// <param name="progress">Called after every step (may be null).</param>
    public static (JudgeCnn Model, double Seconds) Train(JudgeTrainOptions options, JudgeConfig config, LabelledImages train,
        Action<JudgeProgress>? progress = null)
    {
        options.Validate();
        CheckShape(config, train);
        int c = train.Channels, side = train.Height, size = train.ImageSize;
        torch.manual_seed(options.Seed);
        var model = new JudgeCnn(config);
        var rng = new Random(options.Seed);
        int n = options.Limit > 0 ? Math.Min(options.Limit, train.Count) : train.Count;
        int batch = Math.Min(options.BatchSize, n);
        int stepsPerEpoch = n / batch; // drop the last partial batch: BatchNorm statistics stay well defined
        long totalSteps = (long)stepsPerEpoch * options.Epochs, warmup = Math.Max(1, totalSteps / 30);

        // the diffusion trainer's pieces: warm-up for the first ~3% of steps, then cosine decay to 0 (Loshchilov & Hutter
        // 2017), and AdamW without clipping
        var schedule = new LearningRateSchedule(options.LearningRate, 0, (int)warmup, totalSteps);
        using var opt = new OptimizerSetup(model, schedule, options.WeightDecay, gradClip: 0);
        var order = Enumerable.Range(0, n).ToArray();
        var xs = new float[batch * size];
        var ys = new long[batch];
        var sw = Stopwatch.StartNew();
        long step = 0;
        model.train();
        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            rng.Shuffle(order);
            double lossSum = 0;
            var epochClock = Stopwatch.StartNew();
            for (int s = 0; s < stepsPerEpoch; s++, step++)
            {
                for (int b = 0; b < batch; b++)
                {
                    int i = order[s * batch + b];
                    int dx = options.MaxShift == 0 ? 0 : rng.Next(-options.MaxShift, options.MaxShift + 1);
                    int dy = options.MaxShift == 0 ? 0 : rng.Next(-options.MaxShift, options.MaxShift + 1);
                    Shift(train.Pixels.AsSpan(i * size, size), c, side, dx, dy, xs.AsSpan(b * size, size));
                    ys[b] = train.Labels[i];
                }
                var (loss, lr) = TrainStep(model, opt, step, xs, ys, [batch, c, side, side]);
                lossSum += loss;
                progress?.Invoke(new JudgeProgress(epoch, s + 1, stepsPerEpoch, lossSum / (s + 1), lr,
                    (s + 1) * batch / Math.Max(1e-9, epochClock.Elapsed.TotalSeconds)));
            }
        }
        model.eval();
        return (model, sw.Elapsed.TotalSeconds);
    }

    private static void CheckShape(JudgeCnn model, LabelledImages data) => CheckShape(model.Config, data);

    private static void CheckShape(JudgeConfig config, LabelledImages data)
    {
        if (data.Channels != config.InChannels || data.Height != config.ImageSize || data.Width != config.ImageSize)
            throw new InvalidInputException($"{data.Source}: images are [{data.Channels},{data.Height},{data.Width}]; the judge takes [{config.InChannels},{config.ImageSize},{config.ImageSize}].");
    }

    private static (double Loss, double Lr) TrainStep(JudgeCnn model, OptimizerSetup opt, long step, float[] xs, long[] ys, long[] shape)
    {
        using var scope = NewDisposeScope();
        var x = tensor(xs, shape);
        var y = tensor(ys, [shape[0]]);
        var loss = nn.functional.cross_entropy(model.forward(x), y);
        var (lr, _) = opt.Step(loss, step);
        return (loss.item<float>(), lr);
    }

    /// <summary>
    /// Copies a [C, S, S] byte image shifted by (<paramref name="dx"/>, <paramref name="dy"/>) pixels into model
    /// space ([-1, 1]); pixels shifted in from outside are black (-1), the background of MNIST and Fashion-MNIST.
    /// </summary>
    public static void Shift(ReadOnlySpan<byte> src, int channels, int side, int dx, int dy, Span<float> dst)
    {
        dst.Fill(Runtime.Pixels.Min);
        int plane = side * side;
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < side; y++)
            {
                int sy = y - dy;
                if ((uint)sy >= side) continue;
                for (int x = 0; x < side; x++)
                {
                    int sx = x - dx;
                    if ((uint)sx < side) dst[c * plane + y * side + x] = Runtime.Pixels.ToModel(src[c * plane + sy * side + sx]);
                }
            }
    }

    /// <summary>Accuracy of <paramref name="model"/> (eval mode) on a labelled set, in batches of 1000.</summary>
    public static ClassifierScore Evaluate(JudgeCnn model, LabelledImages data)
    {
        CheckShape(model, data);
        model.eval();
        int k = model.Config.NumClasses, n = data.Count, size = data.ImageSize;
        var correct = new int[k]; var total = new int[k];
        const int batch = 1000;
        var xs = new float[batch * size];
        using var noGrad = no_grad();
        for (int start = 0; start < n; start += batch)
        {
            int m = Math.Min(batch, n - start);
            Runtime.Pixels.ToModel(data.Pixels.AsSpan(start * size, m * size), xs);
            using var scope = NewDisposeScope();
            var pred = model.forward(tensor(xs.AsSpan(0, m * size).ToArray(), [m, data.Channels, data.Height, data.Width])).argmax(1).data<long>().ToArray();
            for (int i = 0; i < m; i++)
            {
                int label = data.Labels[start + i];
                total[label]++;
                if (pred[i] == label) correct[label]++;
            }
        }
        var perClass = Enumerable.Range(0, k).Select(c => total[c] == 0 ? double.NaN : (double)correct[c] / total[c]).ToArray();
        return new ClassifierScore((double)correct.Sum() / n, perClass, n);
    }
}
