using System.Diagnostics;
using System.Globalization;
using System.Text;
using Diffusion.Onnx;
using Diffusion.Onnx.Torch;
using Diffusion.Runtime;
using Diffusion.Train.Model;
using Diffusion.Train.Optim;
using TorchSharp;
using static TorchSharp.torch;
using Diffusion.Tools;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;

namespace Diffusion.Train.Training;

/// <summary>Measured training throughput of one model at one batch size.</summary>
/// <param name="Parameters">Trainable parameters of the model.</param>
/// <param name="BatchSize">Images per step.</param>
/// <param name="Steps">Timed steps (after the warmup steps).</param>
/// <param name="SecondsPerStep">Wall time per step.</param>
/// <param name="CpuSecondsPerStep">Process CPU time per step (all threads).</param>
public sealed record TrainThroughput(long Parameters, int BatchSize, int Steps, double SecondsPerStep, double CpuSecondsPerStep)
{
    /// <summary>Training images per wall-clock second.</summary>
    public double ImagesPerSecond => BatchSize / SecondsPerStep;
    /// <summary>Training images per CPU second.</summary>
    public double ImagesPerCpuSecond => BatchSize / CpuSecondsPerStep;
}

/// <summary>
/// Measures training throughput: the full step the trainer runs (objective, backward, clipping, AdamW, EMA) on
/// synthetic batches, per preset. Prints a Markdown table with the machine's load average before and after, since
/// other processes on a shared machine lower the numbers, and the work per image against the machine's float32
/// GEMM peak measured by the same libtorch on the same threads (issue 16): training FLOPs per image are counted as
/// 3x the forward pass's convolutions and matrix products (the backward pass computes two products per forward
/// one: gradients of the inputs and of the weights), the usual estimate; element-wise work, norms, AdamW and EMA
/// are not counted, so the fraction of peak is a lower bound on how busy the multipliers are.
/// </summary>
public static class TrainBenchmark
{
    /// <summary>Benchmarks each preset in <paramref name="presets"/>; returns the Markdown table (also written to <paramref name="output"/>).</summary>
    public static string Run(IReadOnlyList<string> presets, int batchSize, int steps, int threads, Device device, TextWriter output)
    {
        int used = TorchSetup.SetThreads(threads);
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine(inv, $"Training throughput, batch {batchSize}, {used} threads, device {device.type}, {steps} timed steps after 2 warmup steps.");
        sb.AppendLine(inv, $"Machine: {Environment.ProcessorCount} logical cores, load average before: {MachineInfo.LoadAverage()}.");
        sb.AppendLine();
        double peak = MeasureGemmPeak(device);
        sb.AppendLine(inv, $"float32 GEMM peak of libtorch on these threads ({GemmSide} x {GemmSide} matmul): {peak / 1e9:F1} GFLOP/s.");
        sb.AppendLine();
        sb.AppendLine("| preset | parameters | ms / step | images / s | minutes / 60k-image epoch | CPU s / step | images / CPU-s | training MFLOP / image | GFLOP/s | % of GEMM peak |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        output.Write(sb.ToString());
        output.Flush();
        foreach (var name in presets)
        {
            var cfg = UNetConfig.Preset(name);
            var m = MeasureTraining(cfg, batchSize, steps, device);
            double ips = m.ImagesPerSecond, flops = TrainingFlopsPerImage(cfg);
            string row = string.Create(inv, $"| {name} | {m.Parameters:N0} | {m.SecondsPerStep * 1000:F0} | {ips:F1} | {60000 / ips / 60:F1} | {m.CpuSecondsPerStep:F2} | {m.ImagesPerCpuSecond:F1} | {flops / 1e6:F1} | {flops * ips / 1e9:F1} | {100 * flops * ips / peak:F1} |");
            sb.AppendLine(row);
            output.WriteLine(row);
            output.Flush();
        }
        string after = $"\nLoad average after: {MachineInfo.LoadAverage()}.\n";
        sb.Append(after);
        output.Write(after);
        return sb.ToString();
    }

    /// <summary>Side of the square matrices of <see cref="MeasureGemmPeak"/>.</summary>
    public const int GemmSide = 1024;

    /// <summary>
    /// FLOPs of one forward pass per image of a U-Net of <paramref name="model"/>: its ONNX form (the exporter's
    /// emitters, built in memory from fresh weights) counted by <see cref="FlopCounter"/> (convolutions and matrix
    /// products, 2 per multiply-accumulate).
    /// </summary>
    public static long ForwardFlopsPerImage(UNetConfig model)
    {
        using var net = new UNet(model);
        var g = new GraphBuilder();
        var ctx = new ExportContext(g, EmitterRegistry.CreateDefault());
        var inputs = new List<GraphValue>
        {
            g.Input(UNetSignature.X, DataType.Float, UNetSignature.BatchDim, model.InChannels, model.ImageSize, model.ImageSize),
            g.Input(UNetSignature.T, DataType.Int64, UNetSignature.BatchDim),
            g.Input(UNetSignature.Y, DataType.Int64, UNetSignature.BatchDim),
        };
        if (model.GuidanceEmbedding) inputs.Add(g.Input(UNetSignature.Scale, DataType.Float, UNetSignature.BatchDim));
        g.Output(ctx.EmitRoot(net, [.. inputs])[0], UNetSignature.Output);
        return FlopCounter.Count(g.BuildModel("unet")).Total;
    }

    /// <summary>Training FLOPs per image: 3x <see cref="ForwardFlopsPerImage"/> (forward, then two products per product backward).</summary>
    public static long TrainingFlopsPerImage(UNetConfig model) => 3 * ForwardFlopsPerImage(model);

    /// <summary>
    /// The float32 GEMM peak libtorch reaches here: the best of a few timed products of two random
    /// <see cref="GemmSide"/> x <see cref="GemmSide"/> matrices (2 n^3 FLOPs each) on the threads already set, in FLOP/s.
    /// </summary>
    public static double MeasureGemmPeak(Device device, int repeats = 5)
    {
        random.manual_seed(0);
        using var a = randn(GemmSide, GemmSide, device: device);
        using var b = randn(GemmSide, GemmSide, device: device);
        double best = double.MaxValue;
        for (int r = 0; r < repeats + 1; r++)
        {
            using var scope = NewDisposeScope();
            var sw = Stopwatch.StartNew();
            var c = matmul(a, b);
            _ = c[0, 0].item<float>();                                     // waits for the device
            sw.Stop();
            if (r > 0) best = Math.Min(best, sw.Elapsed.TotalSeconds);     // the first call warms up
        }
        return 2.0 * GemmSide * GemmSide * GemmSide / best;
    }

    /// <summary>
    /// Times <paramref name="steps"/> full training steps of a freshly initialised <paramref name="model"/> on one
    /// synthetic batch of [<paramref name="batchSize"/>, C, H, W] images, after <paramref name="warmupSteps"/> untimed
    /// steps. Uses the threads already set (<see cref="TorchSetup.SetThreads"/>) and reseeds the global generator.
    /// </summary>
    public static TrainThroughput MeasureTraining(UNetConfig model, int batchSize, int steps, Device device, int warmupSteps = 2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        random.manual_seed(0);
        using var net = new UNet(model);
        using var ema = new UNet(model);
        net.to(device).train();
        ema.to(device);
        ExponentialMovingAverage.CopyWeights(net, ema);
        var emaUpdater = new ExponentialMovingAverage(net, ema, 0.999, true);
        using var opt = new OptimizerSetup(net, new LearningRateSchedule(1e-3, 0, 10, 1000), 0, 1.0);
        using var objective = new DiffusionObjective(new ScheduleSpec(NoiseScheduleKind.Cosine, 1000).Create(), PredictionType.Epsilon, model.NumClasses, 0.1, device);
        using var x0 = rand(batchSize, model.InChannels, model.ImageSize, model.ImageSize, device: device) * 2 - 1;
        using var y = randint(0, model.NumClasses, [batchSize], dtype: int64, device: device);
        var (seconds, cpu) = Time(steps, warmupSteps, s =>
        {
            using var scope = NewDisposeScope();
            var loss = objective.Loss(net.forward, x0, y);
            opt.Step(loss, s);
            emaUpdater.Update(s);
            _ = loss.item<float>();
        });
        return new TrainThroughput(net.ParameterCount(), batchSize, steps, seconds / steps, cpu / steps);
    }

    /// <summary>
    /// Times <paramref name="calls"/> forward passes (eval mode, no gradients) of a freshly initialised
    /// <paramref name="model"/> on [<paramref name="batchSize"/>, C, H, W] inputs after one untimed call: the cost of one
    /// sampling step per image. Returns images (network evaluations) per wall-clock second.
    /// </summary>
    public static double MeasureInference(UNetConfig model, int batchSize, int calls, Device device)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(calls, 1);
        random.manual_seed(0);
        using var net = new UNet(model);
        net.to(device).eval();
        using var _ = no_grad();
        using var x = randn(batchSize, model.InChannels, model.ImageSize, model.ImageSize, device: device);
        using var t = randint(0, 1000, [batchSize], dtype: int64, device: device);
        using var y = randint(0, model.NumClasses + 1, [batchSize], dtype: int64, device: device);
        var (seconds, _) = Time(calls, 1, call =>
        {
            using var scope = NewDisposeScope();
            using var output = net.forward(x, t, y).cpu();
        });
        return batchSize * calls / seconds;
    }

    /// <summary>Runs <paramref name="step"/> warmup + timed times; returns wall and process CPU seconds of the timed ones.</summary>
    private static (double Seconds, double CpuSeconds) Time(int timed, int warmup, Action<int> step)
    {
        var sw = new Stopwatch();
        using var proc = Process.GetCurrentProcess();
        TimeSpan cpu0 = default;
        for (int s = 0; s < timed + warmup; s++)
        {
            if (s == warmup) { proc.Refresh(); cpu0 = proc.TotalProcessorTime; sw.Start(); }
            step(s);
        }
        sw.Stop();
        proc.Refresh();
        return (sw.Elapsed.TotalSeconds, (proc.TotalProcessorTime - cpu0).TotalSeconds);
    }
}
