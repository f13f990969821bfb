using System.Diagnostics;
using System.Globalization;
using System.Text;
using Diffusion.Runtime;
using Diffusion.Train.Model;
using Diffusion.Train.Optim;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Train.Training;

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
            random.manual_seed(0);
            using var model = new UNet(UNetConfig.Preset(name));
            using var ema = new UNet(UNetConfig.Preset(name));
            model.to(device).train();
            ema.to(device);
            ExponentialMovingAverage.CopyWeights(model, ema);
            var emaUpdater = new ExponentialMovingAverage(model, ema, 0.999, true);
            using var opt = new OptimizerSetup(model, new LearningRateSchedule(1e-3, 0, 10, 1000), 0, 1.0);
            using var objective = new DiffusionObjective(new NoiseSchedule(NoiseScheduleKind.Cosine, 1000), PredictionType.Epsilon, model.Config.NumClasses, 0.1, device);
            using var x0 = (rand(batchSize, 1, 28, 28, device: device) * 2 - 1);
            using var y = randint(0, 10, [batchSize], dtype: int64, device: device);
            var sw = new Stopwatch();
            var proc = Process.GetCurrentProcess();
            TimeSpan cpu0 = default;
            for (int s = 0; s < steps + 2; s++)
            {
                if (s == 2) { proc.Refresh(); cpu0 = proc.TotalProcessorTime; sw.Start(); }
                using var scope = NewDisposeScope();
                var loss = objective.Loss(model.forward, x0, y);
                opt.Step(loss, s);
                emaUpdater.Update(s);
                _ = loss.item<float>();
            }
            sw.Stop();
            proc.Refresh();
            double cpu = (proc.TotalProcessorTime - cpu0).TotalSeconds / steps;
            double ms = sw.Elapsed.TotalMilliseconds / steps, ips = batchSize * steps / sw.Elapsed.TotalSeconds;
            string row = string.Create(inv, $"| {name} | {model.ParameterCount():N0} | {ms:F0} | {ips:F1} | {60000 / ips / 60:F1} | {cpu:F2} | {batchSize / cpu:F1} |");
            sb.AppendLine(row);
            output.WriteLine(row);
            output.Flush();
        }
        string after = $"\nLoad average after: {MachineInfo.LoadAverage()}.\n";
        sb.Append(after);
        output.Write(after);
        return sb.ToString();
    }

}
