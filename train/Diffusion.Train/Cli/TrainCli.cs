using System.CommandLine;
using System.Globalization;
using Diffusion.Runtime;
using Diffusion.Train.Config;
using Diffusion.Train.Model;
using Diffusion.Train.Training;
using Diffusion.Tools;
using Diffusion.Tools.Cli;

namespace Diffusion.Train.Cli;

/// <summary>
/// The trainer's command line: <c>train</c> (config file plus overrides), <c>distill</c> (a trained model into few-step
/// students, <see cref="Distiller"/>) and <c>bench-train</c> (images/s per preset).
/// Bad input (unknown option values, invalid config, missing data, an existing run) prints one message on stderr and
/// returns <see cref="InvalidInputException.ExitCode"/> (2) before anything is written.
/// </summary>
public static class TrainCli
{
    /// <summary>Default config of <c>train</c>.</summary>
    public const string DefaultConfig = "configs/mnist.json";

    /// <summary>Runs the command line; returns the process exit code.</summary>
    /// <param name="args">Arguments, e.g. <c>train --config configs/mnist-quick.json --epochs 3</c>.</param>
    /// <param name="stdout">Output (default the console).</param>
    /// <param name="stderr">Errors (default the console's error stream).</param>
    /// <param name="cancel">Stops training after the current step, saving a resumable checkpoint.</param>
    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null, CancellationToken cancel = default)
    {
        TorchSetup.PreferPassiveOpenMpWait();
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        var root = new RootCommand("Class-conditional DDPM trainer (TorchSharp).");
        root.Subcommands.Add(BuildTrain(stdout, stderr, cancel));
        root.Subcommands.Add(BuildDistill(stdout, stderr, cancel));
        root.Subcommands.Add(BuildBench(stdout, stderr));
        return CliHost.Run(root, args, stdout, stderr);
    }

    private static Command BuildTrain(TextWriter stdout, TextWriter stderr, CancellationToken cancel)
    {
        var cmd = new Command("train", "Train a model from a JSON config; options override the config's values.");
        var config = Add(cmd, new Option<string>("--config") { Description = $"Config file (default {DefaultConfig}).", DefaultValueFactory = _ => DefaultConfig });
        var name = Add(cmd, new Option<string?>("--name") { Description = "Run name (outputs in runs/<name>)." });
        var outDir = Add(cmd, new Option<string?>("--out") { Description = "Run folder (default runs/<name>)." });
        var data = Add(cmd, new Option<string?>("--data") { Description = "Folder of IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, raw or .gz), or an image folder (<class>/*.png|jpg, optionally under train/): its class folders become the class names." });
        var imageSize = Add(cmd, new Option<int?>("--image-size") { Description = "Image side of the model (an image folder's images of another size are refused unless --resize is given)." });
        var skipBad = Add(cmd, new Option<bool>("--skip-bad-images") { Description = "Image folder: skip (and count) files that cannot be decoded instead of stopping." });
        var resize = Add(cmd, new Option<string?>("--resize") { Description = "Image folder: images of another size than --image-size are resized with the linear or cubic filter (default refuse)." });
        var flip = Add(cmd, new Option<bool>("--random-flip") { Description = "Mirror training images left to right at random (for classes that do not change in a mirror; not for digits)." });
        var channels = Add(cmd, new Option<int?>("--channels") { Description = "Image channels of the model: 1 (greyscale) or 3 (RGB; the default for image folders)." });
        var dataset = Add(cmd, new Option<string?>("--dataset") { Description = "Dataset name written in metadata." });
        var preset = Add(cmd, new Option<string?>("--preset") { Description = "Model preset: small, medium, large (replaces the config's model)." });
        var schedule = Add(cmd, new Option<string?>("--schedule") { Description = "Noise schedule: linear, cosine, quadratic." });
        var timesteps = Add(cmd, new Option<int?>("--timesteps") { Description = "Diffusion steps T." });
        var prediction = Add(cmd, new Option<string?>("--prediction") { Description = "Prediction target: epsilon, x0, v." });
        var epochs = Add(cmd, new Option<int?>("--epochs") { Description = "Epochs." });
        var minSnr = Add(cmd, new Option<double?>("--min-snr-gamma") { Description = "Min-SNR-gamma loss weighting (0 = uniform; the paper's gamma is 5)." });
        var batch = Add(cmd, new Option<int?>("--batch-size") { Description = "Batch size." });
        var lr = Add(cmd, new Option<double?>("--lr") { Description = "Peak learning rate." });
        var minLr = Add(cmd, new Option<double?>("--min-lr") { Description = "Final learning rate of the cosine decay." });
        var wd = Add(cmd, new Option<double?>("--weight-decay") { Description = "AdamW weight decay." });
        var warmup = Add(cmd, new Option<int?>("--warmup-steps") { Description = "Linear warmup steps." });
        var clip = Add(cmd, new Option<double?>("--grad-clip") { Description = "Max gradient norm (0 = off)." });
        var emaDecay = Add(cmd, new Option<double?>("--ema-decay") { Description = "EMA decay." });
        var dropout = Add(cmd, new Option<double?>("--label-dropout") { Description = "Probability of the null label." });
        var seed = Add(cmd, new Option<long?>("--seed") { Description = "Random seed." });
        var threads = Add(cmd, new Option<int?>("--threads") { Description = "CPU threads (0 = all cores)." });
        var device = Add(cmd, new Option<string?>("--device") { Description = "auto, cpu or cuda." });
        var maxImages = Add(cmd, new Option<int?>("--max-train-images") { Description = "Use only the first N training images (0 = all)." });
        var sampleEvery = Add(cmd, new Option<int?>("--sample-every") { Description = "Sample grid every N epochs (0 = only at the end)." });
        var ckptEvery = Add(cmd, new Option<int?>("--checkpoint-every") { Description = "Keep epoch-XXXX.ckpt every N epochs (0 = only at the end)." });
        var sampleSteps = Add(cmd, new Option<int?>("--sample-steps") { Description = "DDIM steps of the sample grids." });
        var sampleGuidance = Add(cmd, new Option<double?>("--sample-guidance") { Description = "Guidance scale of the sample grids (1 = conditional)." });
        var resume = Add(cmd, new Option<bool>("--resume") { Description = $"Continue the run from <run>/checkpoints/{RunFolder.LastCheckpointName}." });
        var force = Add(cmd, new Option<bool>("--force") { Description = "Start over in a run folder that already holds a checkpoint." });
        var stopAfter = Add(cmd, new Option<long?>("--stop-after-steps") { Description = "Save a resumable checkpoint and stop after N total steps." });
        var plain = Add(cmd, new Option<bool>("--plain") { Description = "No live progress bar: one line per epoch." });

        cmd.SetAction(parse =>
        {
            try
            {
                TrainConfig Overrides(TrainConfig c)
                {
                    if (parse.GetValue(preset) is string p) c = c with { Preset = p, Model = UNetConfig.Preset(p) with { NumClasses = c.ClassNames.Count } };
                    string dataDir = parse.GetValue(data) ?? c.Data;
                    if (Imaging.ImageFolderDataset.IsImageFolder(dataDir))
                    {
                        // an image folder names its classes; colour unless told otherwise
                        var names = Imaging.ImageFolderDataset.ClassNamesOf(dataDir);
                        c = c with
                        {
                            ClassNames = names.ToList(),
                            Dataset = parse.GetValue(dataset) ?? Path.GetFileName(Path.GetFullPath(dataDir).TrimEnd(Path.DirectorySeparatorChar)),
                            Model = c.Model with { NumClasses = names.Count, InChannels = parse.GetValue(channels) ?? 3 },
                        };
                    }
                    else if (parse.GetValue(channels) is int ch) c = c with { Model = c.Model with { InChannels = ch } };
                    if (parse.GetValue(imageSize) is int size) c = c with { Model = c.Model with { ImageSize = size } };
                    if (parse.GetValue(resize) is string rs) c = c with { Resize = Imaging.ImageFolderDataset.ParseResize(rs) };
                    if (parse.GetValue(skipBad)) c = c with { SkipBadImages = true };
                    if (parse.GetValue(flip)) c = c with { RandomFlip = true };
                    return c with
                    {
                        Name = parse.GetValue(name) ?? c.Name,
                        OutDir = parse.GetValue(outDir) ?? c.OutDir,
                        Data = parse.GetValue(data) ?? c.Data,
                        Dataset = parse.GetValue(dataset) ?? c.Dataset,
                        Schedule = parse.GetValue(schedule) is string s ? NoiseSchedule.ParseKind(s) : c.Schedule,
                        Timesteps = parse.GetValue(timesteps) ?? c.Timesteps,
                        Prediction = parse.GetValue(prediction) is string pr ? Prediction.Parse(pr) : c.Prediction,
                        MinSnrGamma = parse.GetValue(minSnr) ?? c.MinSnrGamma,
                        Epochs = parse.GetValue(epochs) ?? c.Epochs,
                        BatchSize = parse.GetValue(batch) ?? c.BatchSize,
                        Lr = parse.GetValue(lr) ?? c.Lr,
                        MinLr = parse.GetValue(minLr) ?? c.MinLr,
                        WeightDecay = parse.GetValue(wd) ?? c.WeightDecay,
                        WarmupSteps = parse.GetValue(warmup) ?? c.WarmupSteps,
                        GradClip = parse.GetValue(clip) ?? c.GradClip,
                        EmaDecay = parse.GetValue(emaDecay) ?? c.EmaDecay,
                        LabelDropout = parse.GetValue(dropout) ?? c.LabelDropout,
                        Seed = parse.GetValue(seed) ?? c.Seed,
                        Threads = parse.GetValue(threads) ?? c.Threads,
                        Device = parse.GetValue(device) is string d ? TrainConfig.ParseDevice(d) : c.Device,
                        MaxTrainImages = parse.GetValue(maxImages) ?? c.MaxTrainImages,
                        SampleEvery = parse.GetValue(sampleEvery) ?? c.SampleEvery,
                        CheckpointEvery = parse.GetValue(ckptEvery) ?? c.CheckpointEvery,
                        SampleSteps = parse.GetValue(sampleSteps) ?? c.SampleSteps,
                        SampleGuidance = parse.GetValue(sampleGuidance) ?? c.SampleGuidance,
                    };
                }
                string configPath = parse.GetValue(config)!;
                TrainConfig cfg;
                try { cfg = Overrides(TrainConfig.Load(configPath)).Validate(); }
                catch (InvalidInputException e) when (!e.Message.Contains(configPath, StringComparison.Ordinal))
                { throw new InvalidInputException($"{configPath} with the command-line options: {e.Message}", e); }
                var options = new TrainOptions
                {
                    Resume = parse.GetValue(resume),
                    ResumeOverrides = Overrides,
                    Force = parse.GetValue(force),
                    StopAfterSteps = parse.GetValue(stopAfter),
                    Console = parse.GetValue(plain) ? ConsoleMode.Plain : ConsoleMode.Auto,
                    Output = ReferenceEquals(stdout, Console.Out) ? null : stdout,
                };
                if (options.StopAfterSteps is < 0) throw new InvalidInputException($"--stop-after-steps = {options.StopAfterSteps}; expected >= 0.");
                using var trainer = DiffusionTrainer.Prepare(cfg, options);
                var result = trainer.Run(cancel);
                return result.Completed ? 0 : 130;
            }
            catch (InvalidInputException e)
            {
                stderr.WriteLine($"error: {e.Message}");
                return InvalidInputException.ExitCode;
            }
        });
        return cmd;
    }

    private static Command BuildDistill(TextWriter stdout, TextWriter stderr, CancellationToken cancel)
    {
        var d = new DistillOptions();
        var cmd = new Command("distill", "Distil a trained model into a guidance-conditioned student (one pass per step), then halve its steps (progressive distillation); each stage is a resumable run under --out.");
        var teacher = Add(cmd, new Option<string>("--teacher") { Description = "The trained model: a checkpoint or an exported model folder (models/mnist).", DefaultValueFactory = _ => d.Teacher });
        var outDir = Add(cmd, new Option<string?>("--out") { Description = "Folder of the stages (default runs/<teacher run>-distill)." });
        var teacherSteps = Add(cmd, new Option<int>("--teacher-steps") { Description = "DDIM steps of the first halving's teacher (a power of two).", DefaultValueFactory = _ => d.TeacherSteps });
        var downTo = Add(cmd, new Option<int>("--down-to") { Description = "Fewest steps distilled (a power of two).", DefaultValueFactory = _ => d.DownTo });
        var guidanceEpochs = Add(cmd, new Option<int>("--guidance-epochs") { Description = "Epochs of stage one.", DefaultValueFactory = _ => d.GuidanceEpochs });
        var halvingEpochs = Add(cmd, new Option<int>("--halving-epochs") { Description = "Epochs of each halving.", DefaultValueFactory = _ => d.HalvingEpochs });
        var lr = Add(cmd, new Option<double>("--lr") { Description = "Peak learning rate of each stage.", DefaultValueFactory = _ => d.Lr });
        var batch = Add(cmd, new Option<int?>("--batch-size") { Description = "Batch size (default the teacher's)." });
        var studentPrediction = Add(cmd, new Option<string>("--student-prediction") { Description = "What the students predict: v (default), x0 or epsilon.", DefaultValueFactory = _ => "v" });
        var minScale = Add(cmd, new Option<double>("--min-scale") { Description = "Smallest guidance scale the student learns.", DefaultValueFactory = _ => d.MinScale });
        var maxScale = Add(cmd, new Option<double>("--max-scale") { Description = "Largest guidance scale the student learns.", DefaultValueFactory = _ => d.MaxScale });
        var threads = Add(cmd, new Option<int>("--threads") { Description = "CPU threads (0 = all cores).", DefaultValueFactory = _ => 0 });
        var maxImages = Add(cmd, new Option<int>("--max-train-images") { Description = "Use only the first N training images (0 = all)." });
        var data = Add(cmd, new Option<string?>("--data") { Description = "Training data (default the teacher's)." });
        var stopAfter = Add(cmd, new Option<long?>("--stop-after-steps") { Description = "Stop each stage's run after N of its steps (resumable)." });
        var plain = Add(cmd, new Option<bool>("--plain") { Description = "No live progress bar: one line per epoch." });
        cmd.SetAction(parse =>
        {
            try
            {
                var o = new DistillOptions
                {
                    Teacher = parse.GetValue(teacher)!, Out = parse.GetValue(outDir), TeacherSteps = parse.GetValue(teacherSteps), DownTo = parse.GetValue(downTo),
                    GuidanceEpochs = parse.GetValue(guidanceEpochs), HalvingEpochs = parse.GetValue(halvingEpochs), Lr = parse.GetValue(lr), BatchSize = parse.GetValue(batch),
                    StudentPrediction = Prediction.Parse(parse.GetValue(studentPrediction)!),
                    MinScale = parse.GetValue(minScale), MaxScale = parse.GetValue(maxScale), Threads = parse.GetValue(threads), MaxTrainImages = parse.GetValue(maxImages), Data = parse.GetValue(data),
                };
                var plan = Distiller.Plan(o);
                var options = new TrainOptions
                {
                    StopAfterSteps = parse.GetValue(stopAfter),
                    Console = parse.GetValue(plain) ? ConsoleMode.Plain : ConsoleMode.Auto,
                    Output = ReferenceEquals(stdout, Console.Out) ? null : stdout,
                };
                if (options.StopAfterSteps is < 0) throw new InvalidInputException($"--stop-after-steps = {options.StopAfterSteps}; expected >= 0.");
                return Distiller.Run(plan, options, cancel) ? 0 : 130;
            }
            catch (InvalidInputException e)
            {
                stderr.WriteLine($"error: {e.Message}");
                return InvalidInputException.ExitCode;
            }
        });
        return cmd;
    }

    private static Command BuildBench(TextWriter stdout, TextWriter stderr)
    {
        var cmd = new Command("bench-train", "Measure training images/s per model preset (synthetic batches, full training step).");
        var presets = Add(cmd, new Option<string>("--presets") { Description = "Comma-separated presets.", DefaultValueFactory = _ => "small,medium,large" });
        var batch = Add(cmd, new Option<int>("--batch-size") { Description = "Batch size.", DefaultValueFactory = _ => 128 });
        var steps = Add(cmd, new Option<int>("--steps") { Description = "Timed steps per preset (after 2 warmup steps).", DefaultValueFactory = _ => 10 });
        var threads = Add(cmd, new Option<int>("--threads") { Description = "CPU threads (0 = all cores).", DefaultValueFactory = _ => 0 });
        var device = Add(cmd, new Option<string>("--device") { Description = "auto, cpu or cuda.", DefaultValueFactory = _ => "auto" });
        var output = Add(cmd, new Option<string?>("--out") { Description = "Also write the Markdown table to this file." });
        cmd.SetAction(parse =>
        {
            try
            {
                var names = parse.GetValue(presets)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                foreach (var n in names) UNetConfig.Preset(n);
                if (parse.GetValue(batch) < 1) throw new InvalidInputException($"--batch-size = {parse.GetValue(batch)}; expected >= 1.");
                if (parse.GetValue(steps) < 1) throw new InvalidInputException($"--steps = {parse.GetValue(steps)}; expected >= 1.");
                if (parse.GetValue(threads) < 0) throw new InvalidInputException($"--threads = {parse.GetValue(threads)}; expected >= 0.");
                var dev = TorchSetup.ResolveDevice(TrainConfig.ParseDevice(parse.GetValue(device)!));
                string table = TrainBenchmark.Run(names, parse.GetValue(batch), parse.GetValue(steps), parse.GetValue(threads), dev, stdout);
                if (parse.GetValue(output) is string path) AtomicFile.WriteAllText(path, table);
                return 0;
            }
            catch (InvalidInputException e)
            {
                stderr.WriteLine($"error: {e.Message}");
                return InvalidInputException.ExitCode;
            }
        });
        return cmd;
    }

    private static Option<T> Add<T>(Command cmd, Option<T> option)
    {
        cmd.Options.Add(option);
        return option;
    }
}
