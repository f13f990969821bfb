using System.Globalization;
using Diffusion.Imaging;
using Diffusion.Runtime;
using Diffusion.Runtime.Generation;
using Spectre.Console;
using Diffusion.Tools;

namespace Diffusion.Generate;

/// <summary>
/// Does what <c>generate</c> asks: checks everything first (model, classes, options, output folder, data), then
/// generates and writes each output file atomically. Bad input throws <see cref="InvalidInputException"/> before any
/// file is written.
/// </summary>
public static class GenerateJob
{
    /// <summary>Runs the job; returns the files written.</summary>
    /// <exception cref="InvalidInputException">Bad input; nothing was written.</exception>
    public static IReadOnlyList<string> Run(GenerateSettings s, IAnsiConsole console, CancellationToken ct = default)
    {
        // 1. check the numbers that need no model
        if (s.PerClass < 1 || s.PerClass > GenerateSettings.MaxPerClass)
            throw new InvalidInputException($"--per-class {s.PerClass}; expected 1 to {GenerateSettings.MaxPerClass} (every image is kept in memory until the outputs are written).");
        if (s.Batch < 1) throw new InvalidInputException($"--batch {s.Batch}; expected at least 1.");
        if (s.Frames < 1 || s.Frames > 1000) throw new InvalidInputException($"--frames {s.Frames}; expected 1 to 1000.");
        Guidance.Validate(s.Guidance);
        s.SamplerOptions.Validate();
        s.Runtime.Validate();
        if (s.Runtime.OptimizedModelCacheDirectory is { } cache) OutputPath.CheckFolder(cache, "--cache-dir");
        // 2. the model, then everything that depends on it
        using var pipeline = DiffusionPipeline.Load(s.Model, s.Runtime);
        var meta = pipeline.Metadata;
        int[] classes = ClassSelection.Parse(s.Digits, meta.NumClasses);
        var labels = classes.SelectMany(c => Enumerable.Repeat(c, s.PerClass)).ToArray();
        var request = new GenerationRequest
        {
            Labels = labels, GuidanceScale = s.Guidance, Steps = s.Steps, Sampler = s.Sampler, SamplerOptions = s.SamplerOptions,
            Seed = s.Seed, BatchSize = s.Batch, Student = s.Student,
        };
        pipeline.Validate(request);
        if (meta.Channels != 1 && s.Formats.HasFlag(OutputFormats.Idx))
            throw new InvalidInputException($"{s.Model} makes {meta.Channels}-channel images; IDX files hold greyscale images only: use --format png or gif.");
        // the real images whose forward process is drawn: the test split of an IDX folder or image folder, at the model's shape
        LabelledImages? data = s.ForwardFrom is null ? null
            : LabelledData.Load(s.ForwardFrom, LabelledData.HasSplit(s.ForwardFrom, DataSplit.Test) ? DataSplit.Test : DataSplit.Train, meta.NumClasses, meta.Channels, meta.Height, ResizeMode.Linear);
        string outDir = CheckWritable(s.Out);

        // 3. generate
        console.MarkupLine($"[bold]{Markup.Escape(meta.Dataset)}[/] model ({Markup.Escape(meta.Architecture)}, T = {meta.Timesteps}, {meta.Prediction}): " +
            $"{labels.Length} images, {Markup.Escape(Runtime.Samplers.SamplerFactory.Name(s.Sampler))} {s.Steps} steps, guidance {s.Guidance.ToString(CultureInfo.InvariantCulture)}, seed {s.Seed}");
        var result = WithProgress(console, s.Quiet, "generating", labels.Length * s.Steps, p => pipeline.Generate(request with { Progress = p }, ct));
        console.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"{result.ModelCalls} model calls on {Markup.Escape(result.Graph)} in {result.Elapsed.TotalSeconds:F2} s"));
        var written = new List<string>();
        int h = meta.Height, w = meta.Width, size = meta.Channels * h * w;

        // 4. outputs, each written to a temp file and renamed; the marker says the set is incomplete until the last is
        // written (Ctrl+C, a full disk or a failed write in between leave it, naming what was asked)
        var marker = IncompleteMarker.Begin(outDir, "generate",
            $"model {s.Model}, classes {string.Join(",", classes)}, {s.PerClass} per class, {s.Steps} steps, guidance {s.Guidance.ToString(CultureInfo.InvariantCulture)}, seed {s.Seed}, formats {s.Formats}");
        if (s.Formats.HasFlag(OutputFormats.Png))
        {
            written.Add(Write(Path.Combine(outDir, "grid.png"), p => PngGrid.Write(p, result.Images, classes.Length, s.PerClass, h, w, pad: 2, scale: 2, channels: meta.Channels), ct));
            if (s.Single)
                for (int i = 0; i < result.Count; i++)
                {
                    var img = result.Images.AsSpan(i * size, size).ToArray();
                    written.Add(Write(Path.Combine(outDir, "single", $"{labels[i]}-{i % s.PerClass:D3}.png"), p => PngGrid.Write(p, img, 1, 1, h, w, pad: 0, channels: meta.Channels), ct));
                }
        }
        if (s.Formats.HasFlag(OutputFormats.Idx))
        {
            var bytes = result.ToBytes();
            written.Add(Write(Path.Combine(outDir, "images-idx3-ubyte"), p => Idx.Write(p, [result.Count, h, w], bytes), ct));
            written.Add(Write(Path.Combine(outDir, "labels-idx1-ubyte"), p => Idx.Write(p, [result.Count], labels.Select(l => (byte)l).ToArray()), ct));
        }
        if (s.Formats.HasFlag(OutputFormats.Gif))
            written.AddRange(WriteReverse(pipeline, request, classes, s, outDir, console, ct));
        if (data is not null)
            written.AddRange(WriteForward(pipeline.Schedule, data, classes, s, outDir));

        marker.Complete();

        var table = new Table().AddColumn("file").AddColumn("bytes");
        foreach (var f in written.Take(20)) table.AddRow(Markup.Escape(f), new FileInfo(f).Length.ToString(CultureInfo.InvariantCulture));
        if (written.Count > 20) table.AddRow($"... and {written.Count - 20} more", "");
        console.Write(table);
        console.MarkupLine($"{result.Count} images in {result.Elapsed.TotalSeconds:F2} s ({result.Count / Math.Max(result.Elapsed.TotalSeconds, 1e-9):F1} images/s, {result.ModelCalls} model calls)");
        return written;
    }

    // The reverse process of the first image of each class (the same images as the grid's first column: image i
    // depends only on (seed, i)): a strip of x_t (rows = classes, columns = frames), one of predicted x0, and a GIF.
    private static IEnumerable<string> WriteReverse(DiffusionPipeline pipeline, GenerationRequest request, int[] classes, GenerateSettings s, string outDir, IAnsiConsole console, CancellationToken ct)
    {
        var meta = pipeline.Metadata;
        int size = meta.Channels * meta.Height * meta.Width, every = Math.Max(1, s.Steps / s.Frames);
        var runs = WithProgress(console, s.Quiet, "reverse process", classes.Length * s.Steps, p =>
            classes.Select((c, k) => pipeline.Generate(request with
            {
                Labels = [c], FirstIndex = k * s.PerClass, BatchSize = 1, TrajectoryEvery = every, Progress = p is null ? null : new Offset(p, k * s.Steps),
            }, ct)).ToArray());
        int frameCount = runs[0].Trajectory.Count;
        var xs = Enumerable.Range(0, frameCount).Select(f => runs.SelectMany(r => r.Trajectory[f].Sample).ToArray()).ToList();
        var x0s = Enumerable.Range(0, frameCount).Select(f => runs.SelectMany(r => r.Trajectory[f].PredictedX0).ToArray()).ToList();
        int h = meta.Height, w = meta.Width;
        int c = meta.Channels;
        yield return Write(Path.Combine(outDir, "reverse.png"), p => PngGrid.Write(p, Strips.Arrange(xs, classes.Length, size), classes.Length, frameCount, h, w, 2, 2, c));
        yield return Write(Path.Combine(outDir, "reverse-x0.png"), p => PngGrid.Write(p, Strips.Arrange(x0s, classes.Length, size), classes.Length, frameCount, h, w, 2, 2, c));
        yield return Write(Path.Combine(outDir, "reverse.gif"), p => AnimatedGif.Write(p, xs, 1, classes.Length, h, w, channels: c));
    }

    // The forward process q(x_t | x_0) of the first test image of each class, at evenly spaced t (Ho et al. eq. 4).
    private static IEnumerable<string> WriteForward(NoiseSchedule schedule, LabelledImages data, int[] classes, GenerateSettings s, string outDir)
    {
        int h = data.Height, w = data.Width, c = data.Channels, size = data.ImageSize;
        var x0 = ProcessFrames.FirstOfEachClass(data, classes, $"--forward-from {s.ForwardFrom}");
        var frames = ProcessFrames.Forward(schedule, x0, size, s.Seed, ProcessFrames.EvenlySpaced(schedule.T, s.Frames));
        yield return Write(Path.Combine(outDir, "forward.png"), p => PngGrid.Write(p, Strips.Arrange(frames, classes.Length, size), classes.Length, frames.Count, h, w, 2, 2, c));
        yield return Write(Path.Combine(outDir, "forward.gif"), p => AnimatedGif.Write(p, frames, 1, classes.Length, h, w, channels: c));
    }

    private sealed class Offset(IProgress<GenerationProgress> inner, int offset) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress v) => inner.Report(v with { CompletedSteps = v.CompletedSteps + offset });
    }

    private static T WithProgress<T>(IAnsiConsole console, bool quiet, string name, int total, Func<IProgress<GenerationProgress>?, T> work)
    {
        if (quiet) return work(null);
        T result = default!;
        console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(name, maxValue: total);
                result = work(new TaskProgress(task));
                task.Value = task.MaxValue;
            });
        return result;
    }

    // Progress callback into a Spectre task: value = completed steps x images per batch step, approximately images x steps.
    private sealed class TaskProgress(ProgressTask task) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress v) => task.Value = (double)v.CompletedSteps / Math.Max(1, v.TotalSteps) * task.MaxValue;
    }

    private static string Write(string path, Action<string> write, CancellationToken ct = default)
    {
        ct.ThrowIfCancellationRequested();
        try { write(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new InvalidInputException($"--out: cannot write {path} ({e.Message}).", e); }
        return path;
    }

    // The output folder must exist or be creatable, and be writable; checked with a probe file before generating.
    private static string CheckWritable(string dir)
    {
        if (string.IsNullOrWhiteSpace(dir)) throw new InvalidInputException("--out is empty; expected an output folder.");
        OutputPath.CheckFolder(dir, "--out");
        Directory.CreateDirectory(dir);
        return dir;
    }
}
