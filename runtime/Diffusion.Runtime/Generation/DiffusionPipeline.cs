using System.Diagnostics;
using Diffusion.Runtime.Onnx;
using Diffusion.Runtime.Samplers;

namespace Diffusion.Runtime.Generation;

/// <summary>
/// Class-conditional generation with classifier-free guidance from a plain graph (<c>unet.onnx</c>, used at
/// scale 1) and a guided graph (<c>unet-guided.onnx</c>, used at any other scale, one model call per step), and the
/// folder's distilled students (<c>unet-student-N.onnx</c>, issue 18), each serving its own step count N with one
/// pass per step (<see cref="GenerationRequest.Student"/>).
/// One pipeline serves concurrent <see cref="Generate"/> calls: each call has its own buffers and sampler.
/// </summary>
public sealed class DiffusionPipeline : IDisposable
{
    private readonly bool _owns;

    /// <summary>Builds a pipeline over denoisers; at least one must be given and their metadata must agree.</summary>
    /// <param name="unet">The plain graph (inputs x, t, y), or null.</param>
    /// <param name="guided">The guided graph (inputs x, t, y, scale), or null.</param>
    /// <param name="ownsDenoisers">Dispose the denoisers (when IDisposable) with the pipeline.</param>
    /// <exception cref="InvalidInputException">Neither given, wrong kinds, or metadata that disagree.</exception>
    public DiffusionPipeline(IDenoiser? unet, IDenoiser? guided, bool ownsDenoisers = false)
        : this(unet, guided, ownsDenoisers, ModelFolderLayout.Unet, ModelFolderLayout.Guided, []) { }

    /// <summary>Builds a pipeline over the teacher's denoisers and distilled students (their metadata name their step counts).</summary>
    /// <param name="unet">The plain graph, or null.</param>
    /// <param name="guided">The guided graph, or null.</param>
    /// <param name="students">Student graphs (<see cref="GraphKind.Student"/>), one per step count.</param>
    /// <param name="ownsDenoisers">Dispose the denoisers with the pipeline.</param>
    /// <exception cref="InvalidInputException">As the other constructor, or a student that is not one, of another model, or a step count twice.</exception>
    public DiffusionPipeline(IDenoiser? unet, IDenoiser? guided, IEnumerable<IDenoiser> students, bool ownsDenoisers = false)
        : this(unet, guided, ownsDenoisers, ModelFolderLayout.Unet, ModelFolderLayout.Guided, students.Select(s => (s, StudentName(s))).ToList()) { }

    private static string StudentName(IDenoiser s) => s is DiffusionModel m ? Path.GetFileName(m.Path) : ModelFolderLayout.StudentFile(s.Metadata.Student?.Steps ?? 0, s.Metadata.Precision == GraphPrecision.Int8);

    private DiffusionPipeline(IDenoiser? unet, IDenoiser? guided, bool ownsDenoisers, string unetName, string guidedName, IReadOnlyList<(IDenoiser Denoiser, string Name)> students)
    {
        if (unet is null && guided is null) throw new InvalidInputException($"A diffusion pipeline needs {ModelFolderLayout.Unet}, {ModelFolderLayout.Guided} or both.");
        if (unet is { IsGuided: true }) throw new InvalidInputException($"The plain denoiser given for {ModelFolderLayout.Unet} is a guided graph.");
        if (guided is { IsGuided: false }) throw new InvalidInputException($"The denoiser given for {ModelFolderLayout.Guided} is not a guided graph (no scale input).");
        if (guided?.Metadata.Graph == GraphKind.Student) throw new InvalidInputException($"The denoiser given for {ModelFolderLayout.Guided} is a distilled student; pass it among the students.");
        if (unet is not null && guided is not null) CheckSameModel(unet.Metadata, guided.Metadata, unetName, guidedName);
        Unet = unet; Guided = guided; _owns = ownsDenoisers;
        Metadata = (unet ?? guided)!.Metadata;
        Schedule = Metadata.CreateSchedule();
        var bySteps = new SortedDictionary<int, IDenoiser>();
        foreach (var (s, name) in students)
        {
            if (s.Metadata.Student is not { } info || s.Metadata.Graph != GraphKind.Student || !s.IsGuided)
                throw new InvalidInputException($"{name} is not a distilled student graph (metadata graph '{ModelMetadata.GraphName(s.Metadata.Graph)}').");
            CheckSameModel(Metadata, s.Metadata, unetName, name, student: true);
            if (!bySteps.TryAdd(info.Steps, s)) throw new InvalidInputException($"{name}: a second student for {info.Steps} steps.");
        }
        Students = bySteps;
    }

    /// <summary>
    /// Loads a model folder or a single .onnx file (a plain graph then serves only scale 1; a guided graph serves every
    /// scale). In a folder, <see cref="RuntimeOptions.Precision"/> picks the float32 graphs (<c>unet.onnx</c>,
    /// <c>unet-guided.onnx</c>) or their int8 forms (<see cref="SelectFiles"/>); an int8 file is refused when it was
    /// quantized from a different float32 file than the one beside it (a stale export), and the two graphs must come
    /// from the same checkpoint (<see cref="ModelMetadata.CheckpointSha256"/>): a folder is never served by graphs of
    /// two exports.
    /// </summary>
    /// <exception cref="InvalidInputException">Missing path, no model in the folder, or a file that is not a model of this pipeline.</exception>
    public static DiffusionPipeline Load(string path, RuntimeOptions? options = null)
    {
        options ??= RuntimeOptions.Default;
        if (File.Exists(path))
        {
            var m = DiffusionModel.Load(path, options);
            if (m.Graph == GraphKind.Student)
            {
                m.Dispose();
                throw new InvalidInputException($"{path} is a distilled student; load its model folder (the student samples beside its teacher's graphs).");
            }
            try { return m.IsGuided ? new DiffusionPipeline(null, m, true) : new DiffusionPipeline(m, null, true); }
            catch { m.Dispose(); throw; }
        }
        var (u, g, precision) = SelectFiles(path, options);
        DiffusionModel? unet = null, guided = null;
        var students = new List<DiffusionModel>();
        try
        {
            if (u is not null) unet = DiffusionModel.Load(u, options, GraphKind.Unet);
            if (g is not null) guided = DiffusionModel.Load(g, options, GraphKind.Guided);
            // each float32 file hashed at most once: the int8 graphs' origin and the card's manifest both need it
            var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
            string Sha(string file) => hashes.TryGetValue(file, out var h) ? h
                : hashes[file] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file)));
            if (precision == GraphPrecision.Int8)
            {
                CheckQuantizedFrom(unet, Path.Combine(path, ModelFolderLayout.Unet), Sha);
                CheckQuantizedFrom(guided, Path.Combine(path, ModelFolderLayout.Guided), Sha);
            }
            if (unet?.Metadata.CheckpointSha256.Length == 0 || guided?.Metadata.CheckpointSha256.Length == 0)
                CheckAgainstCard(path, Sha);
            LoadStudents(path, options, precision, unet ?? guided!, Sha, students);
            return new DiffusionPipeline(unet, guided, true, u ?? ModelFolderLayout.Unet, g ?? ModelFolderLayout.Guided, students.Select(s => ((IDenoiser)s, Path.GetFileName(s.Path))).ToList());
        }
        catch { unet?.Dispose(); guided?.Dispose(); foreach (var s in students) s.Dispose(); throw; }
    }

    /// <summary>
    /// The graph files of model folder <paramref name="folder"/> that <see cref="Load"/> runs under
    /// <paramref name="options"/>: <see cref="PrecisionMode.Float32"/> the float32 files, <see cref="PrecisionMode.Int8"/>
    /// the int8 ones, <see cref="PrecisionMode.Auto"/> the int8 ones on the CPU when every float32 graph present has its
    /// int8 form (or the folder has only int8 graphs), else the float32 ones. Absent files are null.
    /// </summary>
    /// <exception cref="InvalidInputException">Missing folder, or no graph of the requested precision.</exception>
    public static (string? Unet, string? Guided, GraphPrecision Precision) SelectFiles(string folder, RuntimeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!Directory.Exists(folder)) throw new InvalidInputException($"Model not found: {folder} (expected a folder with {ModelFolderLayout.Unet} / {ModelFolderLayout.Guided}, or an .onnx file).");
        string? F(string name) => File.Exists(Path.Combine(folder, name)) ? Path.Combine(folder, name) : null;
        string? u = F(ModelFolderLayout.Unet), g = F(ModelFolderLayout.Guided), uq = F(ModelFolderLayout.UnetInt8), gq = F(ModelFolderLayout.GuidedInt8);
        bool hasInt8 = uq is not null || gq is not null;
        var mode = options.Precision;
        if (mode == PrecisionMode.Auto)
        {
            bool complete = hasInt8 && (u is null || uq is not null) && (g is null || gq is not null);
            mode = options.Device == ExecutionDevice.Cpu && complete ? PrecisionMode.Int8 : PrecisionMode.Float32;
            if (mode == PrecisionMode.Float32 && u is null && g is null && hasInt8)
                throw new InvalidInputException($"Model folder {folder} has only int8 graphs ({ModelFolderLayout.UnetInt8} / {ModelFolderLayout.GuidedInt8}), which run on the CPU only; export the float32 graphs for {options.Device}.");
        }
        if (mode == PrecisionMode.Int8)
        {
            if (!hasInt8)
                throw new InvalidInputException($"Model folder {folder} has no int8 graphs ({ModelFolderLayout.UnetInt8} / {ModelFolderLayout.GuidedInt8}); 'make export' writes them when the dataset's IDX files are in data/, or use precision float32 / auto.");
            return (uq, gq, GraphPrecision.Int8);
        }
        if (u is null && g is null) throw new InvalidInputException($"Model folder {folder} has neither {ModelFolderLayout.Unet} nor {ModelFolderLayout.Guided}.");
        return (u, g, GraphPrecision.Float32);
    }

    // Every student in the folder at the teacher graphs' precision (float32 where it has no int8 form), each checked to
    // descend from the model whose graphs it sits beside: its distilled_from is that model's checkpoint or its unet.onnx
    private static void LoadStudents(string folder, RuntimeOptions options, GraphPrecision precision, DiffusionModel teacher, Func<string, string> sha256, List<DiffusionModel> into)
    {
        bool int8 = precision == GraphPrecision.Int8;
        var steps = ModelFolderLayout.StudentSteps(folder, int8: false).Union(int8 ? ModelFolderLayout.StudentSteps(folder, int8: true) : []).Order();
        string unetFile = Path.Combine(folder, ModelFolderLayout.Unet);
        foreach (int n in steps)
        {
            bool quantized = int8 && File.Exists(Path.Combine(folder, ModelFolderLayout.StudentFile(n, true)));
            string file = Path.Combine(folder, ModelFolderLayout.StudentFile(n, quantized));
            var s = DiffusionModel.Load(file, options, GraphKind.Student);
            into.Add(s);
            if (quantized) CheckQuantizedFrom(s, Path.Combine(folder, ModelFolderLayout.StudentFile(n, false)), sha256);
            string origin = s.Metadata.Student!.DistilledFrom;
            bool fromCheckpoint = teacher.Metadata.CheckpointSha256.Length > 0 && string.Equals(origin, teacher.Metadata.CheckpointSha256, StringComparison.OrdinalIgnoreCase);
            bool fromGraph = File.Exists(unetFile) && string.Equals(origin, sha256(unetFile), StringComparison.OrdinalIgnoreCase);
            if (!fromCheckpoint && !fromGraph)
                throw new InvalidInputException($"{file} was distilled from another model (distilled_from {(origin.Length == 0 ? "unknown" : origin[..Math.Min(16, origin.Length)] + "...")}) than the graphs beside it; export the student into its teacher's folder.");
        }
    }

    private static void CheckQuantizedFrom(DiffusionModel? int8, string floatFile, Func<string, string> sha256)
    {
        if (int8 is null) return;
        if (int8.Metadata.Precision != GraphPrecision.Int8)
            throw new InvalidInputException($"{int8.Path}: metadata says precision {int8.Metadata.Precision}; expected an int8 graph under this name.");
        if (!File.Exists(floatFile) || int8.Metadata.QuantizedFrom.Length == 0) return;
        string sha = sha256(floatFile);
        if (!string.Equals(sha, int8.Metadata.QuantizedFrom, StringComparison.OrdinalIgnoreCase))
            throw new InvalidInputException($"{int8.Path} was quantized from a different {Path.GetFileName(floatFile)} (sha256 {int8.Metadata.QuantizedFrom[..Math.Min(16, int8.Metadata.QuantizedFrom.Length)]}..., the file beside it is {sha[..16]}...): a stale export; re-run 'make export' or use precision float32.");
    }

    // Graphs exported before they named their checkpoint: the folder's card lists the float32 files of one export with
    // their SHA-256, so a graph of another export beside them is still found.
    private static void CheckAgainstCard(string folder, Func<string, string> sha256)
    {
        var listed = ModelFolderLayout.CardGraphHashes(folder);
        foreach (var name in new[] { ModelFolderLayout.Unet, ModelFolderLayout.Guided })
        {
            string file = Path.Combine(folder, name);
            if (!listed.TryGetValue(name, out var expected) || !File.Exists(file)) continue;
            string sha = sha256(file);
            if (!string.Equals(sha, expected, StringComparison.OrdinalIgnoreCase))
                throw new InvalidInputException($"{file} is not the graph that the {ModelFolderLayout.CardJson} beside it lists (sha256 {sha[..16]}..., the card has {expected[..Math.Min(16, expected.Length)]}...): the folder mixes two exports; export the checkpoint again into it.");
        }
    }

    /// <summary>The distilled students by step count (empty when the folder has none).</summary>
    public IReadOnlyDictionary<int, IDenoiser> Students { get; }
    /// <summary>The plain graph, or null.</summary>
    public IDenoiser? Unet { get; }
    /// <summary>The guided graph, or null.</summary>
    public IDenoiser? Guided { get; }
    /// <summary>Float32 or int8: the graphs' <see cref="ModelMetadata.Precision"/>.</summary>
    public GraphPrecision Precision => Metadata.Precision;
    /// <summary>Metadata of the model (shared by both graphs).</summary>
    public ModelMetadata Metadata { get; }
    /// <summary>The noise schedule rebuilt from the metadata.</summary>
    public NoiseSchedule Schedule { get; }

    /// <summary>Checks a request against this model without running it.</summary>
    /// <exception cref="InvalidInputException">The first problem found, naming the option and value.</exception>
    public void Validate(GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Labels is null || request.Labels.Count == 0) throw new InvalidInputException("Generation request: no labels; give at least one class to generate.");
        for (int i = 0; i < request.Labels.Count; i++)
        {
            int y = request.Labels[i];
            if (y < 0 || y > Metadata.NumClasses)
                throw new InvalidInputException($"Class {y} (image {i}) is unknown; this {Metadata.Dataset} model has classes 0 to {Metadata.NumClasses - 1} ({Metadata.NumClasses} = unconditional).");
        }
        Guidance.Validate(request.GuidanceScale);
        if (request.Steps < 1 || request.Steps > Metadata.Timesteps)
            throw new InvalidInputException($"Sampling steps = {request.Steps}; expected 1 to T = {Metadata.Timesteps} (the model's training steps).");
        if (request.BatchSize < 1) throw new InvalidInputException($"Batch size = {request.BatchSize}; expected at least 1.");
        if (request.TrajectoryEvery < 0) throw new InvalidInputException($"Trajectory capture every {request.TrajectoryEvery} steps; expected 0 (off) or more.");
        if (request.FirstIndex < 0) throw new InvalidInputException($"First sample index = {request.FirstIndex}; expected >= 0.");
        SamplerFactory.Create(request.Sampler, Schedule, Metadata.Prediction, request.SamplerOptions); // validates the options
        Route(request);
    }

    /// <summary>
    /// Which graph and sampler serve <paramref name="request"/>: a student distilled for its step count (DDIM at eta 0 on
    /// the trailing grid it learned, one pass per step) unless <see cref="StudentMode.Off"/> or the scale is outside the
    /// student's range, else the teacher's graph for the scale with the requested sampler.
    /// </summary>
    /// <exception cref="InvalidInputException"><see cref="StudentMode.Require"/> without a student for the steps and scale, or a scale the teacher's graphs cannot serve.</exception>
    public (IDenoiser Denoiser, SamplerKind Sampler, SamplerOptions Options) Route(GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Student != StudentMode.Off && Students.TryGetValue(request.Steps, out var s))
        {
            var info = s.Metadata.Student!;
            if (request.GuidanceScale >= info.MinScale && request.GuidanceScale <= info.MaxScale)
                return (s, SamplerKind.Ddim, request.SamplerOptions with { Eta = 0, Spacing = TimestepSpacing.Trailing });
            if (request.Student == StudentMode.Require)
                throw new InvalidInputException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"Guidance scale {request.GuidanceScale} is outside the {request.Steps}-step student's range [{info.MinScale}, {info.MaxScale}] (the scales it was distilled for)."));
        }
        else if (request.Student == StudentMode.Require)
            throw new InvalidInputException(Students.Count == 0
                ? "This model has no distilled students (make distill, then export a steps-N checkpoint into its folder)."
                : $"No student was distilled for {request.Steps} steps; this model's students take {string.Join(", ", Students.Keys)} steps.");
        return (SelectDenoiser(request.GuidanceScale), request.Sampler, request.SamplerOptions);
    }

    private IDenoiser SelectDenoiser(float scale)
    {
        if (scale == 1f) return Unet ?? Guided!;
        return Guided ?? throw new InvalidInputException(
            $"Guidance scale {scale} needs {ModelFolderLayout.Guided}, which this model does not have; use scale 1 or a model folder with both graphs.");
    }

    /// <summary>
    /// Generates <c>request.Labels.Count</c> images. Batches run one after another; within a batch every step is
    /// one model call followed by one sampler step, with no allocation.
    /// </summary>
    /// <exception cref="InvalidInputException">Invalid request.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled (checked before every step and inside model calls).</exception>
    public GenerationResult Generate(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        Validate(request);
        var sw = Stopwatch.StartNew();
        var (denoiser, samplerKind, samplerOptions) = Route(request);
        int count = request.Labels.Count, size = Metadata.Channels * Metadata.Height * Metadata.Width;
        int steps = request.Steps, batches = (count + request.BatchSize - 1) / request.BatchSize;
        var images = new float[(long)count * size];
        var labels = request.Labels.ToArray();
        var frames = CreateFrames(request, count * size, out int[] frameSteps);
        int calls = 0, done = 0;

        for (int b = 0; b < batches; b++)
        {
            int start = b * request.BatchSize, n = Math.Min(request.BatchSize, count - start);
            using var batch = denoiser.CreateBatch(n);
            using var reg = batch is ICancellableBatch cb ? cancellationToken.Register(cb.Cancel) : default;
            // a student may predict another target than its teacher (v, for its first step from t = T - 1)
            var sampler = SamplerFactory.Create(samplerKind, Schedule, denoiser.Metadata.Prediction, samplerOptions);
            sampler.SetTimesteps(steps);
            var timesteps = sampler.Timesteps;
            // per-batch buffers (made once, reused by every step)
            var noise = sampler.UsesNoise ? new float[n * size] : [];
            var prev = new float[n * size];
            var x0 = new float[n * size];

            // x_T ~ N(0, I), keyed by (seed, sample index), draw 0
            var x = batch.X;
            GaussianNoise.FillBatch(request.Seed, request.FirstIndex + start, 0, size, x);
            for (int j = 0; j < n; j++) batch.Y[j] = labels[start + j];
            batch.Scale.Fill(request.GuidanceScale);
            Capture(frames, frameSteps, 0, x, x, start * size);

            for (int k = 0; k < steps; k++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int t = timesteps[k];
                batch.T.Fill(t);
                RunModel(batch, cancellationToken);
                calls++;
                if (sampler.UsesNoise) GaussianNoise.FillBatch(request.Seed, request.FirstIndex + start, (uint)(k + 1), size, noise);
                sampler.Step(batch.Output, t, x, noise, prev, x0, size);
                prev.CopyTo(x);
                Capture(frames, frameSteps, k + 1, x, x0, start * size);
                if (k == steps - 1) done += n;
                request.Progress?.Report(new GenerationProgress(b * steps + k + 1, batches * steps, done, count, t));
            }
            x.CopyTo(images.AsSpan(start * size, n * size));
        }

        var trajectory = new TrajectoryFrame[frameSteps.Length];
        var ts = frameSteps.Length > 0 ? TimestepSchedule.Create(Metadata.Timesteps, steps, samplerOptions.Spacing) : [];
        for (int f = 0; f < frameSteps.Length; f++)
        {
            int s = frameSteps[f];
            trajectory[f] = new TrajectoryFrame(s, s < steps ? ts[s] : -1, frames![f].Sample, frames[f].X0);
        }
        string graph = denoiser is DiffusionModel dm ? Path.GetFileName(dm.Path) : ModelMetadata.GraphName(denoiser.Metadata.Graph);
        return new GenerationResult(images, labels, Metadata.Channels, Metadata.Height, Metadata.Width, trajectory, sw.Elapsed, calls, graph);
    }

    private static void RunModel(IDenoiserBatch batch, CancellationToken ct)
    {
        try { batch.Run(); }
        catch (Exception) when (ct.IsCancellationRequested) { throw new OperationCanceledException(ct); }
    }

    private static (float[] Sample, float[] X0)[]? CreateFrames(GenerationRequest request, int total, out int[] frameSteps)
    {
        int every = request.TrajectoryEvery, steps = request.Steps;
        if (every <= 0) { frameSteps = []; return null; }
        var list = new List<int> { 0 };
        for (int s = every; s < steps; s += every) list.Add(s);
        list.Add(steps);
        frameSteps = list.ToArray();
        var frames = new (float[], float[])[frameSteps.Length];
        for (int f = 0; f < frames.Length; f++) frames[f] = (new float[total], new float[total]);
        return frames;
    }

    private static void Capture((float[] Sample, float[] X0)[]? frames, int[] frameSteps, int step, ReadOnlySpan<float> x, ReadOnlySpan<float> x0, int offset)
    {
        if (frames is null) return;
        int f = Array.IndexOf(frameSteps, step);
        if (f < 0) return;
        x.CopyTo(frames[f].Sample.AsSpan(offset));
        x0.CopyTo(frames[f].X0.AsSpan(offset));
    }

    private static void CheckSameModel(ModelMetadata a, ModelMetadata b, string aName, string bName, bool student = false)
    {
        static string Short(string sha) => sha.Length == 0 ? "none (an older export)" : sha[..Math.Min(16, sha.Length)] + "...";
        // a student has its own checkpoint and config; its descent is checked by its distilled_from (Load)
        if (!student && !string.Equals(a.CheckpointSha256, b.CheckpointSha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidInputException($"{aName} and {bName} were exported from different checkpoints (sha256 {Short(a.CheckpointSha256)} vs {Short(b.CheckpointSha256)}): the folder mixes two exports; export the checkpoint again into it.");
        void Same<T>(string what, T x, T y)
        {
            if (!EqualityComparer<T>.Default.Equals(x, y))
                throw new InvalidInputException($"{aName} and {bName} disagree on {what}: {x} vs {y}; they must be exported from the same checkpoint.");
        }
        Same("dataset", a.Dataset, b.Dataset);
        Same("image shape", (a.Channels, a.Height, a.Width), (b.Channels, b.Height, b.Width));
        Same("number of classes", a.NumClasses, b.NumClasses);
        Same("schedule", a.ScheduleSpec, b.ScheduleSpec);
        if (student) return;
        Same("prediction type", a.Prediction, b.Prediction);
        Same("config sha256", a.ConfigSha256, b.ConfigSha256);
        Same("precision", a.Precision, b.Precision);
    }

    /// <summary>Disposes the denoisers when the pipeline owns them.</summary>
    public void Dispose()
    {
        if (!_owns) return;
        (Unet as IDisposable)?.Dispose();
        (Guided as IDisposable)?.Dispose();
        foreach (var s in Students.Values) (s as IDisposable)?.Dispose();
    }
}

/// <summary>A batch whose in-flight model call can be aborted (ONNX Runtime's RunOptions.Terminate).</summary>
public interface ICancellableBatch
{
    /// <summary>Asks the running (or next) model call to stop; it then throws.</summary>
    void Cancel();
}
