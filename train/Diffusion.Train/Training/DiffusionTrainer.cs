using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Diffusion.Imaging;
using Diffusion.Runtime;
using Diffusion.Runtime.Samplers;
using Diffusion.Train.Checkpoints;
using Diffusion.Train.Config;
using Diffusion.Train.Data;
using Diffusion.Train.Model;
using Diffusion.Train.Optim;
using TorchSharp;
using static TorchSharp.torch;
using Diffusion.Tools;

namespace Diffusion.Train.Training;

/// <summary>Options of one training invocation that are not part of the run's config.</summary>
public sealed record TrainOptions
{
    /// <summary>Continue the run in the config's run folder from <c>checkpoints/last.ckpt</c>.</summary>
    public bool Resume { get; init; }
    /// <summary>
    /// On resume, applied to the saved config (the command-line overrides). Only epochs and operational settings
    /// (threads, device, data folder, sample and checkpoint cadence) may change.
    /// </summary>
    public Func<TrainConfig, TrainConfig>? ResumeOverrides { get; init; }
    /// <summary>Start over even if the run folder already holds a checkpoint.</summary>
    public bool Force { get; init; }
    /// <summary>Save <c>last.ckpt</c> and stop once this many optimizer steps are done (a resumable pause).</summary>
    public long? StopAfterSteps { get; init; }
    /// <summary>Console output.</summary>
    public ConsoleMode Console { get; init; } = ConsoleMode.Auto;
    /// <summary>Writer for console output (default stdout).</summary>
    public TextWriter? Output { get; init; }
    /// <summary>Called after every optimizer step with the step count (1-based) and that step's batch loss (per-step loss curves).</summary>
    public Action<long, double>? OnStep { get; init; }
}

/// <summary>What a training invocation did.</summary>
/// <param name="Step">Optimizer steps taken in total.</param>
/// <param name="Epoch">Epochs completed.</param>
/// <param name="Completed">True when all epochs ran; false when stopped early (cancelled or <see cref="TrainOptions.StopAfterSteps"/>).</param>
/// <param name="Epochs">Per-epoch records of the run (including earlier invocations on resume).</param>
/// <param name="CheckpointPath">The last checkpoint written.</param>
/// <param name="Elapsed">Wall time of this invocation.</param>
public sealed record TrainResult(long Step, int Epoch, bool Completed, IReadOnlyList<EpochRecord> Epochs, string CheckpointPath, TimeSpan Elapsed);

/// <summary>
/// Trains a class-conditional U-Net with <see cref="DiffusionObjective"/>, AdamW with warmup + cosine decay,
/// gradient clipping and an EMA of the weights; writes checkpoints, sample grids, a JSON-lines log and
/// TensorBoard events under the run folder. Create it with <see cref="Prepare"/> (validates everything, writes
/// nothing), then call <see cref="Run"/>.
/// </summary>
/// <example><code>
/// var config = TrainConfig.Load("configs/mnist-quick.json") with { Epochs = 2 };
/// using var trainer = DiffusionTrainer.Prepare(config, new TrainOptions { Console = ConsoleMode.Plain });
/// TrainResult result = trainer.Run();
/// using var ckpt = Checkpoint.Load(result.CheckpointPath);
/// </code></example>
public sealed class DiffusionTrainer : IDisposable
{
    private readonly TrainOptions _options;
    private readonly ImageData _data;
    private readonly Checkpoint? _resumeFrom;
    private readonly TeacherModel? _teacher;   // a distillation run's teacher (a checkpoint's EMA weights or a model folder)
    private readonly Device _device;

    /// <summary>The resolved config of the run.</summary>
    public TrainConfig Config { get; }
    /// <summary>Run folder.</summary>
    public string RunDir => Config.RunDir;
    /// <summary>The run folder's layout.</summary>
    public RunFolder Folder => new(RunDir);
    /// <summary>Folder of the checkpoints.</summary>
    public string CheckpointDir => Folder.Checkpoints;
    /// <summary>Path of the latest checkpoint.</summary>
    public string LastCheckpointPath => Folder.LastCheckpoint;

    private DiffusionTrainer(TrainConfig config, TrainOptions options, ImageData data, Checkpoint? resumeFrom, TeacherModel? teacher, Device device)
    {
        Config = config; _options = options; _data = data; _resumeFrom = resumeFrom; _teacher = teacher; _device = device;
    }

    /// <summary>
    /// Validates the config, the device, the data and the run folder (and loads the checkpoint to resume from)
    /// without writing anything.
    /// </summary>
    /// <exception cref="InvalidInputException">Any invalid value, missing or corrupt data or checkpoint, an existing run without --resume/--force.</exception>
    public static DiffusionTrainer Prepare(TrainConfig config, TrainOptions? options = null)
    {
        options ??= new TrainOptions();
        config.Validate();
        OutputPath.CheckFolder(config.RunDir, "--out");
        Checkpoint? resume = null;
        TeacherModel? teacher = null;
        try
        {
            string last = new RunFolder(config.RunDir).LastCheckpoint;
            if (options.Resume)
            {
                if (!File.Exists(last)) throw new InvalidInputException($"--resume: no checkpoint at {last}; start the run without --resume first.");
                resume = Checkpoint.Load(last);
                var resumed = (options.ResumeOverrides ?? (c => c))(resume.Config with { OutDir = config.OutDir }).Validate();
                CheckResumable(resume.Config, resumed, last);
                config = resumed;
            }
            else if (File.Exists(last) && !options.Force)
                throw new InvalidInputException($"Run folder {config.RunDir} already holds {last}; pass --resume to continue it or --force to start over.");

            if (config.Distill is { } distill) teacher = LoadTeacher(config, distill);
            var device = TorchSetup.ResolveDevice(config.Device);
            var data = LoadData(config, (options.Output ?? Console.Out).WriteLine);
            if (data.Height != config.Model.ImageSize || data.Width != config.Model.ImageSize)
            {
                data.Dispose();
                throw new InvalidInputException($"Data {config.Data}: images are {data.Height}x{data.Width}; model.image_size is {config.Model.ImageSize}.");
            }
            if (resume is not null)
            {
                int bpe = new EpochShuffle(data.Count, config.BatchSize, config.Seed).BatchesPerEpoch;
                if (resume.Epoch != resume.Step / bpe)
                {
                    data.Dispose();
                    throw new InvalidInputException($"--resume: {last} is at step {resume.Step}, epoch {resume.Epoch}, which does not fit {bpe} batches per epoch of {config.Data}; the training data changed.");
                }
            }
            return new DiffusionTrainer(config, options, data, resume, teacher, device);
        }
        catch
        {
            resume?.Dispose();
            teacher?.Dispose();
            throw;
        }
    }

    // The teacher of a distillation run must be the model the student distils: the same schedule, target, classes and
    // network (without the guidance input for the guidance stage, with it for a halving)
    private static TeacherModel LoadTeacher(TrainConfig config, DistillConfig distill)
    {
        var teacher = TeacherModel.Load(distill.Teacher);
        var t = teacher.Config;
        bool wantStudent = distill.Stage == DistillStage.Halving;
        string? problem =
            t.Model.GuidanceEmbedding != wantStudent ? (wantStudent ? "is not a guidance-conditioned student (a halving's teacher is the previous stage's student)" : "is already a guidance-conditioned student (the guidance stage distils a trained model)")
            : Json(t.Model with { GuidanceEmbedding = true, Dropout = 0 }) != Json(config.Model with { Dropout = 0 }) ? $"has another network ({t.Architecture()})"
            : t.ScheduleSpec != config.ScheduleSpec ? "has another noise schedule"
            : wantStudent && t.Prediction != config.Prediction ? $"predicts {Runtime.Prediction.Name(t.Prediction)}, not {Runtime.Prediction.Name(config.Prediction)}"
            : !t.ClassNames.SequenceEqual(config.ClassNames) ? "has other classes"
            : null;
        if (problem is null) return teacher;
        static string Json(UNetConfig m) => JsonSerializer.Serialize(m, TrainConfig.JsonOptions);
        teacher.Dispose();
        throw new InvalidInputException($"Teacher {distill.Teacher} {problem}; expected the model this run distils.");
    }

    /// <summary>A resumed run must train the same model the same way; only epochs and operational settings may change.</summary>
    private static void CheckResumable(TrainConfig saved, TrainConfig resumed, string path)
    {
        static TrainConfig Defining(TrainConfig c) => c with
        {
            OutDir = null, Data = "", Epochs = 1, Threads = 0, Device = DeviceKind.Auto, SampleEvery = 0, CheckpointEvery = 0,
            SampleSteps = 1, SampleGuidance = 1, SamplesPerClass = 1,
        };
        string a = Defining(saved).ToJson(), b = Defining(resumed).ToJson();
        if (a != b)
        {
            // keys written only when not default (resize) may be on one side only
            var sa = JsonDocument.Parse(a).RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetRawText());
            var sb = JsonDocument.Parse(b).RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetRawText());
            var diff = sa.Keys.Union(sb.Keys).Where(k => sa.GetValueOrDefault(k) != sb.GetValueOrDefault(k))
                .Select(k => $"{k} ({sa.GetValueOrDefault(k) ?? "default"} -> {sb.GetValueOrDefault(k) ?? "default"})");
            throw new InvalidInputException($"--resume: {path} was trained with different settings: {string.Join(", ", diff)}. Only epochs, threads, device, data, sample_* and checkpoint_every may change on resume.");
        }
    }

    /// <summary>Trains until all epochs are done, <paramref name="cancel"/> fires or <see cref="TrainOptions.StopAfterSteps"/> is reached (then a resumable checkpoint is saved).</summary>
    public TrainResult Run(CancellationToken cancel = default)
    {
        var wall = Stopwatch.StartNew();
        var config = Config;
        var ui = new TrainingConsole(_options.Console, _options.Output);
        // one trainer per run folder: a second one into the same --out is refused before it writes anything
        using var runLock = FolderLock.Acquire(RunDir, "Run folder", ui.Line);
        int threads = TorchSetup.SetThreads(config.Threads);
        string configJson = config.ToJson();
        string commit = _resumeFrom?.SourceCommit ?? SourceInfo.GitCommit();

        // Output folders (first write of the run).
        if (_resumeFrom is null && _options.Force)
        {
            // --force starts over: drop the previous run's outputs so they do not mix with the new ones
            foreach (var sub in new[] { Folder.Checkpoints, Folder.Samples, Folder.TensorBoard })
                if (Directory.Exists(sub)) Directory.Delete(sub, recursive: true);
            if (File.Exists(Folder.Log)) File.Delete(Folder.Log); // (File.Delete throws when the folder is missing)
        }
        Directory.CreateDirectory(CheckpointDir);
        Directory.CreateDirectory(Folder.Samples);
        AtomicFile.WriteAllText(Folder.Config, configJson);

        // Model, EMA, optimizer, RNG: fresh (seeded) or restored.
        UNet model, ema;
        if (_resumeFrom is null)
        {
            random.manual_seed(config.Seed);
            model = new UNet(config.Model);
            ema = new UNet(config.Model);
            // a student starts from its teacher's EMA weights (its guidance input, new in stage one, starts at zero)
            if (_teacher is not null) ExponentialMovingAverage.CopySharedWeights(_teacher.Network, model);
            ExponentialMovingAverage.CopyWeights(model, ema);
        }
        else
        {
            model = _resumeFrom.Model;
            ema = _resumeFrom.Ema;
        }
        try
        {
            return Train(model, ema, ui, threads, configJson, commit, wall, cancel);
        }
        finally
        {
            if (_resumeFrom is null) { model.Dispose(); ema.Dispose(); }
        }
    }

    private TrainResult Train(UNet model, UNet ema, TrainingConsole ui, int threads, string configJson, string commit, Stopwatch wall, CancellationToken cancel)
    {
        var config = Config;
        model.to(_device).train();
        ema.to(_device);
        var shuffle = new EpochShuffle(_data.Count, config.BatchSize, config.Seed);
        long totalSteps = (long)config.Epochs * shuffle.BatchesPerEpoch;
        var lrSchedule = new LearningRateSchedule(config.Lr, config.MinLr, config.WarmupSteps, totalSteps);
        using var optimizer = new OptimizerSetup(model, lrSchedule, config.WeightDecay, config.GradClip);
        var emaUpdater = new ExponentialMovingAverage(model, ema, config.EmaDecay, config.EmaWarmup);
        long step = 0;
        int epoch = 0;
        if (_resumeFrom is not null)
        {
            if (_resumeFrom.OptimizerState is null) throw new InvalidInputException($"--resume: {_resumeFrom.Path} holds no optimizer state.");
            optimizer.LoadState(_resumeFrom.OptimizerState);
            using (var state = tensor(_resumeFrom.Rng.TorchGenerator, dtype: ScalarType.Byte)) random.set_rng_state(state);
            step = _resumeFrom.Step;
            epoch = _resumeFrom.Epoch;
        }

        using var objective = new DiffusionObjective(config.CreateSchedule(), config.Prediction, config.Model.NumClasses, config.LabelDropout, _device, config.MinSnrGamma);
        using var distillation = config.Distill is { } dc ? new GuidanceDistillation(config.CreateSchedule(), _teacher!.Config.Prediction, config.Prediction, dc.MinScale, dc.MaxScale, _device) : null;
        var teacher = _teacher?.Network;
        teacher?.to(_device).eval();
        Tensor Loss(Tensor x0, Tensor y) => config.Distill switch
        {
            null => objective.Loss(model.forward, x0, y),
            { Stage: DistillStage.Guidance } => distillation!.GuidanceLoss(model.forward, GuidanceDistillation.Guided(teacher!.forward, config.Model.NumClasses), x0, y),
            { } d => distillation!.HalvingLoss(model.forward, teacher!.forward, d.StudentSteps, x0, y),
        };
        var log = new EpochLog(Folder.Log, _resumeFrom is null ? null : epoch);
        var tb = utils.tensorboard.SummaryWriter(Folder.TensorBoard);
        ui.Line(string.Create(CultureInfo.InvariantCulture,
            $"{(_resumeFrom is null ? "training" : $"resuming at step {step} (epoch {epoch})")} {config.Name}: {config.Architecture()} U-Net, {model.ParameterCount():N0} params, " +
            $"{_data.Count} images, {config.Epochs} epochs x {shuffle.BatchesPerEpoch} steps, batch {config.BatchSize}{(config.RandomFlip ? ", random left-right flips" : "")}, device {_device.type}, {threads} threads -> {RunDir}"));

        bool stopped = false;
        string lastCkpt = LastCheckpointPath;
        (long Step, int Epoch)? saved = _resumeFrom is null ? null : (step, epoch);
        // A checkpoint is written whole or not at all (AtomicFile): when the disk is full (or the file too large, or the
        // folder read-only) the previous one stays, and the error says which one and how to go on from it.
        void SaveCheckpoint(string path)
        {
            try
            {
                Checkpoint.Save(path, model, ema, optimizer.SaveState(), configJson, commit, step, epoch,
                    new RngState(random.get_rng_state().data<byte>().ToArray(), config.Seed));
                saved = (step, epoch);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                string kept = saved is var (s, ep) && File.Exists(path)
                    ? $"the previous {path} (step {s}, epoch {ep}) is kept; free space and continue from it with --resume"
                    : "no earlier checkpoint of this run exists";
                throw new IOException($"checkpoint {path} at step {step}: {e.Message.Trim()}; {kept}.", e);
            }
        }
        // epoch-XXXX.ckpt: a whole copy of last.ckpt or nothing
        void KeepCopy(string from, string to)
        {
            try { AtomicFile.Write(to, dst => { using var src = File.OpenRead(from); src.CopyTo(dst); }); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new IOException($"checkpoint copy {to}: {e.Message.Trim()}; {from} (step {step}, epoch {epoch}) is whole; free space and continue from it with --resume.", e);
            }
        }

        ui.Run(totalSteps, step, progress =>
        {
            while (epoch < config.Epochs && !stopped)
            {
                var perm = shuffle.Permutation(epoch);
                int first = (int)(step - (long)epoch * shuffle.BatchesPerEpoch);
                double lossSum = 0, lr = 0; int lossCount = 0; long images = 0;
                var sw = Stopwatch.StartNew();
                var cpu0 = CpuTime();
                for (int b = first; b < shuffle.BatchesPerEpoch; b++)
                {
                    if (cancel.IsCancellationRequested || (_options.StopAfterSteps is long stop && step >= stop)) { stopped = true; break; }
                    double loss;
                    using (var scope = NewDisposeScope())
                    {
                        var (x0, y) = _data.Batch(shuffle.Batch(perm, b), _device);
                        if (config.RandomFlip) x0 = ImageData.RandomHorizontalFlip(x0);
                        var lossT = Loss(x0, y);
                        (lr, double gradNorm) = optimizer.Step(lossT, step);
                        emaUpdater.Update(step);
                        loss = lossT.item<float>();
                        images += x0.shape[0];
                        if (step % 10 == 0)
                        {
                            tb.add_scalar("train/loss", (float)loss, (int)step);
                            tb.add_scalar("train/lr", (float)lr, (int)step);
                            if (!double.IsNaN(gradNorm)) tb.add_scalar("train/grad_norm", (float)gradNorm, (int)step);
                        }
                    }
                    if (!double.IsFinite(loss)) throw new InvalidOperationException($"Training diverged: loss {loss} at step {step}; lower lr or enable grad_clip.");
                    step++;
                    _options.OnStep?.Invoke(step, loss);
                    lossSum += loss; lossCount++;
                    progress.Report(step, epoch + 1, lossSum / lossCount, lr, images / Math.Max(sw.Elapsed.TotalSeconds, 1e-9));
                }
                sw.Stop();
                if (stopped) break;
                epoch++;
                double ips = images / Math.Max(sw.Elapsed.TotalSeconds, 1e-9);
                var record = new EpochRecord(epoch, step, lossCount > 0 ? lossSum / lossCount : double.NaN, lr, ips, sw.Elapsed.TotalSeconds, (CpuTime() - cpu0).TotalSeconds);
                log.Add(record);
                tb.add_scalar("epoch/loss", (float)record.Loss, (int)step);
                tb.add_scalar("epoch/images_per_s", (float)ips, (int)step);
                ui.Line(string.Create(CultureInfo.InvariantCulture,
                    $"epoch {epoch}/{config.Epochs} step {step} loss {record.Loss:F5} lr {lr:E2} {ips:F1} img/s {sw.Elapsed.TotalSeconds:F1} s (CPU {record.CpuSeconds:F1} s)"));

                bool last = epoch == config.Epochs;
                if (last || (config.SampleEvery > 0 && epoch % config.SampleEvery == 0))
                {
                    var sampleTime = Stopwatch.StartNew();
                    string png = WriteSampleGrid(ema, epoch);
                    try { tb.add_img("samples", png, (int)step); }
                    catch (Exception e) when (e is not OutOfMemoryException) { ui.Line($"(tensorboard image skipped: {e.Message})"); }
                    ui.Line(string.Create(CultureInfo.InvariantCulture, $"  samples -> {png} ({sampleTime.Elapsed.TotalSeconds:F1} s)"));
                }
                SaveCheckpoint(lastCkpt);
                if (last || (config.CheckpointEvery > 0 && epoch % config.CheckpointEvery == 0))
                    KeepCopy(lastCkpt, Folder.EpochCheckpoint(epoch));
            }
            return 0;
        });

        if (stopped)
        {
            SaveCheckpoint(lastCkpt);
            ui.Line($"stopped at step {step} (epoch {epoch}); continue with --resume. checkpoint -> {lastCkpt}");
        }
        else ui.Line(string.Create(CultureInfo.InvariantCulture, $"done: {step} steps, {epoch} epochs in {wall.Elapsed.TotalMinutes:F1} min (process CPU time {CpuTime().TotalMinutes:F1} min). checkpoint -> {lastCkpt}"));
        return new TrainResult(step, epoch, !stopped, log.Records.ToArray(), lastCkpt, wall.Elapsed);
    }

    private static TimeSpan CpuTime()
    {
        using var p = Process.GetCurrentProcess();
        return p.TotalProcessorTime;
    }

    // IDX files (greyscale) or an image folder (<data>/<class>/*.png|jpg, optionally under train/), at the model's
    // channels and size; an image folder's classes must be the config's class names, in order
    private static ImageData LoadData(TrainConfig config, Action<string> log)
    {
        if (!Imaging.ImageFolderDataset.IsImageFolder(config.Data))
        {
            if (config.Model.InChannels != 1)
                throw new InvalidInputException($"Data {config.Data}: IDX files are greyscale; model.in_channels is {config.Model.InChannels} (train on an image folder for colour).");
            return ImageData.Load(config.Data, "train", config.ClassNames.Count, config.MaxTrainImages);
        }
        // decoded once, then read back from the run's cache by resumes and later runs into the same folder
        var set = Imaging.ImageFolderCache.Load(config.Data, "train", new Imaging.ImageFolderOptions(config.Model.InChannels, config.Model.ImageSize, config.Resize, config.SkipBadImages),
            new RunFolder(config.RunDir).DataCache, log);
        if (set.Skipped.Count > 0)
            log($"skipped {set.Skipped.Count} file(s) that could not be decoded, e.g. {set.Skipped[0]}");
        if (!set.ClassNames.SequenceEqual(config.ClassNames))
            throw new InvalidInputException($"Data {config.Data}: its class folders are [{string.Join(", ", set.ClassNames)}]; the config's class_names are [{string.Join(", ", config.ClassNames)}] (train passes an image folder's names itself unless the config gives them).");
        return ImageData.FromImageFolder(set, config.MaxTrainImages);
    }

    /// <summary>Samples <see cref="TrainConfig.SamplesPerClass"/> images per class from <paramref name="ema"/> with DDIM and guidance; writes a PNG grid (rows = classes).</summary>
    private string WriteSampleGrid(UNet ema, int epoch)
    {
        var c = Config;
        int k = c.SamplesPerClass, classes = c.Model.NumClasses;
        var labels = Enumerable.Range(0, classes * k).Select(i => i / k).ToArray();
        var sampler = new DdimSampler(c.CreateSchedule(), c.Prediction, eta: 0, spacing: TimestepSpacing.Trailing, clipSample: true);
        // a halving's student samples with the step count it learns
        int steps = c.Distill is { Stage: DistillStage.Halving } d ? d.StudentSteps : c.SampleSteps;
        var images = TorchSampling.Sample(ema, sampler, labels, steps, (float)c.SampleGuidance, c.Seed + 7919, _device);
        string path = Folder.SampleGrid(epoch);
        PngGrid.Write(path, images, classes, k, c.Model.ImageSize, c.Model.ImageSize, pad: 2, scale: 2, channels: c.Model.InChannels);
        return path;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _data.Dispose();
        _resumeFrom?.Dispose();
        _teacher?.Dispose();
    }
}
