using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Diffusion.Runtime;
using Spectre.Console;
using TorchSharp;
using Diffusion.Tools;
using Diffusion.Tools.Cli;
using Diffusion.Imaging;

namespace Diffusion.Judge;

/// <summary>The <c>train-classifier</c> command line (the Exe beside this library only calls <see cref="Run"/>).</summary>
public static class JudgeCli
{
    /// <summary>Parses <paramref name="args"/> and runs the command; returns the process exit code.</summary>
    public static int Run(string[] args)
    {
        // train-classifier: trains the judge CNN on a dataset's training split, measures it on the test split and
        // writes a checkpoint (atomically). Export it to ONNX with export/ and score with eval/ (ML.NET).
        var dataset = new Option<string?>("--dataset") { Description = "mnist or fashion-mnist (default mnist), or the name of an image folder's judges (default: the folder's name)" };
        var data = new Option<string?>("--data") { Description = "folder of IDX files, or an image folder <folder>/{train,test}/<class>/*.png|jpg (default data/<dataset>)" };
        var channels = new Option<int?>("--channels") { Description = "image folder: 3 (RGB, default) or 1 (greyscale); the diffusion model's channels" };
        var imageSize = new Option<int?>("--image-size") { Description = "image folder: side the images are read at (default: the first image's); the diffusion model's size" };
        var resize = new Option<string>("--resize") { Description = "image folder: images of another size than --image-size are refused, or resized linear or cubic", DefaultValueFactory = _ => ImageFolderDataset.ResizeName(ResizeMode.Refuse) };
        var epochs = new Option<int?>("--epochs") { Description = "passes over the training set (default 4 for mnist, 8 for fashion-mnist, 10 for an image folder)" };
        var batch = new Option<int>("--batch") { Description = "batch size", DefaultValueFactory = _ => new JudgeTrainOptions().BatchSize };
        var lr = new Option<double>("--lr") { Description = "peak learning rate (AdamW)", DefaultValueFactory = _ => new JudgeTrainOptions().LearningRate };
        var wd = new Option<double>("--weight-decay") { Description = "AdamW weight decay", DefaultValueFactory = _ => new JudgeTrainOptions().WeightDecay };
        var shift = new Option<int>("--shift") { Description = "random shift augmentation, pixels (0 = off)", DefaultValueFactory = _ => new JudgeTrainOptions().MaxShift };
        var seed = new Option<int>("--seed") { Description = "random seed", DefaultValueFactory = _ => new JudgeTrainOptions().Seed };
        var limit = new Option<int>("--limit") { Description = "use only the first N training images (0 = all)" };
        var features = new Option<int>("--features") { Description = "penultimate feature width F", DefaultValueFactory = _ => new JudgeConfig().FeatureDim };
        var threads = new Option<int>("--threads") { Description = "TorchSharp threads (default: all cores)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var output = new Option<string?>("--out") { Description = $"checkpoint path (default runs/judge-<dataset>/{RunFolder.JudgeCheckpointName})" };

        var train = new Command("train-classifier", "Train the judge CNN and write its checkpoint")
        {
            dataset, data, channels, imageSize, resize, epochs, batch, lr, wd, shift, seed, limit, features, threads, output,
        };
        train.SetAction(pr =>
        {
            var source = JudgeDatasets.Resolve(pr.GetValue(dataset), pr.GetValue(data), pr.GetValue(channels), pr.GetValue(imageSize));
            string name = source.Dataset;
            string[] classes = source.ClassNames;
            var options = new JudgeTrainOptions
            {
                Dataset = name,
                Data = source.Data,
                Epochs = pr.GetValue(epochs) ?? JudgeDatasets.DefaultEpochs(name, source.IsImageFolder), BatchSize = pr.GetValue(batch), LearningRate = pr.GetValue(lr),
                WeightDecay = pr.GetValue(wd), MaxShift = pr.GetValue(shift), Seed = pr.GetValue(seed), Limit = pr.GetValue(limit),
            };
            options.Validate();
            int nThreads = pr.GetValue(threads);
            if (nThreads < 1) throw new InvalidInputException($"--threads {nThreads}; expected >= 1.");
            var config = new JudgeConfig { FeatureDim = pr.GetValue(features), NumClasses = classes.Length, InChannels = source.Channels, ImageSize = source.Size };
            config.Validate();
            string outPath = pr.GetValue(output) ?? RunFolder.Judge(name).JudgeCheckpoint;
            var resizeMode = ImageFolderDataset.ParseResize(pr.GetValue(resize)!);
            var trainSet = LabelledData.Load(options.Data, DataSplit.Train, classes.Length, source.Channels, source.Size, resizeMode);
            var testSet = LabelledData.Load(options.Data, DataSplit.Test, classes.Length, source.Channels, source.Size, resizeMode);

            torch.set_num_threads(nThreads);
            AnsiConsole.MarkupLine($"[bold]train-classifier[/] {Markup.Escape(name)}: {trainSet.Count} train / {testSet.Count} test images of [[{source.Channels},{source.Size},{source.Size}]], " +
                $"{options.Epochs} epochs, batch {options.BatchSize}, lr {options.LearningRate}, shift {options.MaxShift}, {nThreads} threads");

            (JudgeCnn model, double seconds) = (null!, 0);
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var tasks = new Dictionary<int, ProgressTask>();
                    (model, seconds) = JudgeTrainer.Train(options, config, trainSet, p =>
                    {
                        if (!tasks.TryGetValue(p.Epoch, out var task))
                            tasks[p.Epoch] = task = ctx.AddTask($"epoch {p.Epoch}/{options.Epochs}", maxValue: p.StepsPerEpoch);
                        task.Value = p.Step;
                        task.Description = string.Create(CultureInfo.InvariantCulture,
                            $"epoch {p.Epoch}/{options.Epochs} loss {p.Loss:F4} lr {p.LearningRate:E2} {p.ImagesPerSecond:F0} img/s");
                    });
                });
            using (model)
            {
                var score = JudgeTrainer.Evaluate(model, testSet);
                var info = new JudgeInfo
                {
                    Config = config, Dataset = name, ClassNames = classes, Training = options,
                    TestAccuracy = score.Accuracy, TestAccuracyPerClass = score.PerClass, TestCount = score.Count,
                    TrainSeconds = Math.Round(seconds, 1), Threads = nThreads, Parameters = model.ParameterCount(),
                    SourceCommit = Git.Commit(), Command = "make train-classifier ARGS='" + string.Join(' ', args.Skip(1)) + "'",
                    Hardware = $"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}",
                };
                JudgeCheckpoint.Save(outPath, model, info);
                AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture,
                    $"test accuracy [bold]{score.Accuracy:P2}[/] ({score.Count} images), trained in {seconds:F0} s, {info.Parameters:N0} parameters"));
                AnsiConsole.MarkupLine($"wrote [bold]{Markup.Escape(outPath)}[/]");
            }
            return 0;
        });

        var root = new RootCommand("Judge classifier (TorchSharp)") { train };
        return CliHost.Run(root, args);
    }
}

/// <summary>Source version helpers.</summary>
internal static class Git
{
    /// <summary>Current commit hash (with "-dirty" when the tree has changes), or "unknown".</summary>
    public static string Commit()
    {
        try
        {
            static string Run(string a)
            {
                using var p = Process.Start(new ProcessStartInfo("git", a) { RedirectStandardOutput = true, RedirectStandardError = true })!;
                string o = p.StandardOutput.ReadToEnd().Trim();
                p.WaitForExit();
                return p.ExitCode == 0 ? o : "";
            }
            string head = Run("rev-parse HEAD");
            if (head.Length == 0) return "unknown";
            return Run("status --porcelain --untracked-files=no").Length > 0 ? head + "-dirty" : head;
        }
        catch (System.ComponentModel.Win32Exception) { return "unknown"; }
    }
}
