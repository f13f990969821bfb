using System.Diagnostics;
using System.Globalization;
using System.Text;
using Diffusion.Runtime;
using Diffusion.Train.Model;
using Diffusion.Train.Optim;
using TorchSharp;
using static TorchSharp.torch;
using Diffusion.Tools;

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
/// other processes on a shared machine lower the numbers.
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
        sb.AppendLine("| preset | parameters | ms / step | images / s | minutes / 60k-image epoch | CPU s / step | images / CPU-s |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        output.Write(sb.ToString());
        output.Flush();
        foreach (var name in presets)
        {
            var m = MeasureTraining(UNetConfig.Preset(name), batchSize, steps, device);
            double ips = m.ImagesPerSecond;
            string row = string.Create(inv, $"| {name} | {m.Parameters:N0} | {m.SecondsPerStep * 1000:F0} | {ips:F1} | {60000 / ips / 60:F1} | {m.CpuSecondsPerStep:F2} | {m.ImagesPerCpuSecond:F1} |");
            sb.AppendLine(row);
            output.WriteLine(row);
            output.Flush();
        }
        string after = $"\nLoad average after: {MachineInfo.LoadAverage()}.\n";
        sb.Append(after);
        output.Write(after);
        return sb.ToString();
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
