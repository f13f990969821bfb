using System.Globalization;
using Diffusion.Onnx.Torch;
using Diffusion.Onnx;
using Diffusion.Runtime;
using Diffusion.Train.Checkpoints;
using Diffusion.Tools;
using Diffusion.Imaging;

namespace Diffusion.Export;

/// <summary>The <c>export</c> command: a thin layer that loads a checkpoint and calls <see cref="ModelFolder.Write"/>.</summary>
public static class ExportCommand
{
    /// <summary>Checkpoint of the default training config (<c>configs/mnist.json</c>, run "mnist").</summary>
    public static string DefaultCheckpoint { get; } = RunFolder.DisplayLastCheckpoint("mnist");

    /// <summary>Refuses an opset the builder does not write, naming the option.</summary>
    /// <exception cref="InvalidInputException">Outside <see cref="OnnxOpset.Min"/>..<see cref="OnnxOpset.Max"/>.</exception>
    public static void CheckOpset(int opset)
    {
        if (!OnnxOpset.IsSupported(opset))
            throw new InvalidInputException($"--opset {opset} is not supported; expected {OnnxOpset.Min}..{OnnxOpset.Max} (default {OnnxOpset.Default}).");
    }

    /// <summary>Reads an ONNX file; a missing or broken one is bad input.</summary>
    /// <exception cref="InvalidInputException">Missing file or not an ONNX model; the message names it.</exception>
    public static Onnx.Proto.ModelProto LoadOnnx(string path)
    {
        try { return OnnxHelper.Load(path); }
        catch (OnnxFormatException e) { throw new InvalidInputException(e.Message, e); }
    }

    /// <summary>The <c>export</c> command: writes the model folder as a whole and reports what it wrote.</summary>
    /// <param name="checkpointPath">Checkpoint file.</param>
    /// <param name="outDir">Output folder, or null for <c>models/&lt;run name&gt;</c>.</param>
    /// <param name="opset">ONNX opset.</param>
    /// <param name="ema">Export the EMA weights (default) or the raw ones.</param>
    /// <param name="int8">Also write the int8 graphs (<see cref="Int8Folder"/>); off drops those of an earlier export.</param>
    /// <param name="dataDir">IDX folder or image folder for int8 calibration, or null for <c>data/&lt;dataset&gt;</c> (then a missing folder skips int8 with a warning).</param>
    /// <param name="stdout">Progress messages.</param>
    /// <param name="stderr">Warnings.</param>
    /// <exception cref="InvalidInputException">Bad input (opset, checkpoint, output folder, data); checked before anything is written, and a failure later leaves the folder as it was.</exception>
    public static void Run(string checkpointPath, string? outDir, int opset, bool ema, bool int8, string? dataDir, TextWriter stdout, TextWriter stderr)
    {
        CheckOpset(opset);
        using var ck = Checkpoint.Load(checkpointPath);
        outDir ??= DefaultFolder(ck);
        OutputPath.CheckFolder(outDir, "--out");
        Int8Calibration? calibration = null;
        if (int8)
        {
            string data = dataDir ?? Path.Combine("data", ck.Config.Dataset);
            if (dataDir is null && !Directory.Exists(data))
                stderr.WriteLine($"warning: no {data} for int8 calibration; writing the float32 graphs only (run 'make data', pass --data, or --no-int8 to silence this).");
            else // a bad --data fails before anything is written
                calibration = Int8Folder.LoadCalibration(data, ck.Config.Model.NumClasses, ck.Config.Model.InChannels, ck.Config.Model.ImageSize, ck.Config.Resize);
        }
        var inv = CultureInfo.InvariantCulture;
        if (ck.Config.Model.GuidanceEmbedding)
        {
            var (file, quantized) = ExportStudent(ck, outDir, opset, calibration);
            stdout.WriteLine(string.Create(inv, $"wrote {file} ({ck.Config.Distill!.StudentSteps}-step student, scales {ck.Config.Distill.MinScale} to {ck.Config.Distill.MaxScale})"));
            foreach (var r in quantized) WriteInt8Line(stdout, r, calibration!.DataDir);
            return;
        }
        var result = Export(ck, outDir, opset, ema, calibration);
        foreach (var f in result.Files) stdout.WriteLine($"wrote {f}");
        foreach (var r in result.Int8) WriteInt8Line(stdout, r, calibration!.DataDir);
        foreach (var f in result.Removed) stdout.WriteLine($"removed {f} ({(int8 ? "no calibration data" : "--no-int8")}; it belonged to the earlier export)");
        foreach (var f in result.RemovedStudents) stdout.WriteLine($"removed {f}: a student distilled from the earlier export, not from this checkpoint (make distill again)");
        stdout.WriteLine(string.Create(inv, $"{result.ParameterCount:N0} parameters; {result.UnetFlops.Total / 1e6:F1} MFLOPs per image ({ModelFolderLayout.Unet}), {result.GuidedFlops.Total / 1e6:F1} ({ModelFolderLayout.Guided}); checkpoint sha256 {ck.FileSha256}, step {ck.Step}"));
    }

    private static void WriteInt8Line(TextWriter stdout, Int8FileResult r, string data)
        => stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrote {r.Path}: {r.Convolutions} int8 convolutions (calibrated on {data}); per step vs float32: relative RMS {r.Parity.RelativeRms:F4}, max abs {r.Parity.MaxAbs:F3} on {r.Parity.Images} noised {r.Parity.Split} images"));

    /// <summary>The <c>int8</c> command: (re)writes the int8 graphs of an exported folder, replacing the folder as a whole.</summary>
    /// <param name="modelDir">Exported model folder.</param>
    /// <param name="dataDir">IDX folder or image folder for calibration, or null for <c>data/&lt;dataset&gt;</c>.</param>
    /// <param name="stdout">Progress messages.</param>
    /// <exception cref="InvalidInputException">No such folder, no graph in it, or bad calibration data; the folder is then unchanged.</exception>
    /// <param name="resize">What an image folder's images of another size than the model's get.</param>
    public static void RunInt8(string modelDir, string? dataDir, TextWriter stdout, ResizeMode resize = ResizeMode.Refuse)
    {
        if (!Directory.Exists(modelDir)) throw new InvalidInputException($"--model {modelDir}: folder not found; export a checkpoint first (make export).");
        string? any = ModelFolderLayout.Int8Pairs.Select(p => Path.Combine(modelDir, p.Float32)).FirstOrDefault(File.Exists)
            ?? throw new InvalidInputException($"Model folder {modelDir} has neither {ModelFolderLayout.Unet} nor {ModelFolderLayout.Guided} to quantize.");
        var meta = ModelMetadata.FromProperties(OnnxHelper.Metadata(LoadOnnx(any)), any);
        string data = dataDir ?? Path.Combine("data", meta.Dataset);
        var calibration = Int8Folder.LoadCalibration(data, meta.NumClasses, meta.Channels, meta.Height, resize);
        using var folderLock = FolderLock.AcquireBeside(modelDir, "Model folder", stdout.WriteLine);
        using var staged = StagedFolder.Begin(modelDir, ModelFolderLayout.Int8Pairs.Select(p => p.Int8).Concat(ModelFolderLayout.StudentPairs(modelDir).Select(p => p.Int8)));
        var results = Int8Folder.Write(staged.Path, calibration);
        StudentCard.Update(staged.Path);
        staged.Commit();
        foreach (var r in results) WriteInt8Line(stdout, r with { Path = Path.Combine(modelDir, Path.GetFileName(r.Path)) }, data);
    }

    /// <summary>
    /// Prints a Markdown table of every preset: parameters, FLOPs per image counted from the exported graphs and the
    /// size of unet.onnx (weights as initialised; sizes and counts do not depend on the values).
    /// </summary>
    public static int DescribePresets(TextWriter stdout)
    {
        var inv = CultureInfo.InvariantCulture;
        stdout.WriteLine($"| Preset | Parameters | MFLOPs / image, {ModelFolderLayout.Unet} | MFLOPs / image, {ModelFolderLayout.Guided} | {ModelFolderLayout.Unet} bytes |");
        stdout.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var preset in new[] { "small", "medium", "large" })
        {
            var cfg = Train.Model.UNetConfig.Preset(preset);
            using var model = new Train.Model.UNet(cfg);
            var meta = new ModelMetadata
            {
                Dataset = "mnist", Channels = cfg.InChannels, Height = cfg.ImageSize, Width = cfg.ImageSize, NumClasses = cfg.NumClasses,
                Timesteps = 1000, Schedule = NoiseScheduleKind.Cosine, Architecture = preset,
            };
            var (unet, guided) = UNetExporter.BuildBoth(model, meta);
            stdout.WriteLine(string.Create(inv, $"| {preset} | {model.ParameterCount():N0} | {FlopCounter.Count(unet).Total / 1e6:F1} | {FlopCounter.Count(guided).Total / 1e6:F1} | {OnnxHelper.Serialize(unet).Length:N0} |"));
        }
        return 0;
    }

    /// <summary>
    /// Loads the checkpoint (refusing missing, corrupt or foreign files before anything is written) and writes the
    /// model folder: what the <c>export</c> command does, for in-process callers.
    /// </summary>
    /// <param name="checkpointPath">Checkpoint file.</param>
    /// <param name="outDir">Output folder, or null for <c>models/&lt;run name&gt;</c>.</param>
    /// <param name="opset">ONNX opset.</param>
    /// <param name="ema">Export the EMA weights (default) or the raw ones.</param>
    /// <param name="int8">Calibration data for the int8 graphs (<see cref="Int8Folder.LoadCalibration"/>), or null for float32 graphs only.</param>
    /// <exception cref="InvalidInputException">Missing, corrupt or foreign checkpoint.</exception>
    public static ExportResult Export(string checkpointPath, string? outDir, int opset = OnnxOpset.Default, bool ema = true, Int8Calibration? int8 = null)
    {
        using var ck = Checkpoint.Load(checkpointPath);
        return Export(ck, outDir ?? DefaultFolder(ck), opset, ema, int8);
    }

    private static string DefaultFolder(Checkpoint ck) => Path.Combine("models", ck.Config.Name);

    /// <summary>
    /// Writes a halving stage's student (issue 18) as <c>unet-student-N.onnx</c> into <paramref name="outDir"/>, beside the
    /// teacher's graphs (which stay), and its int8 form <c>unet-student-N-int8.onnx</c> when <paramref name="int8"/> is
    /// given: its metadata names its step count, timesteps, sampler, scale range and the model it was distilled from,
    /// which must be the model whose graphs the folder holds. The card's students section (<see cref="StudentCard"/>) and
    /// int8 entry are rebuilt. Returns the float32 file written and the int8 result.
    /// </summary>
    /// <exception cref="InvalidInputException">A guidance-stage checkpoint (no step count), a folder of another model, or
    /// an int8 form over the parity bound (then the folder is unchanged).</exception>
    public static (string File, IReadOnlyList<Int8FileResult> Int8) ExportStudent(Checkpoint ck, string outDir, int opset = OnnxOpset.Default, Int8Calibration? int8 = null)
    {
        var d = ck.Config.Distill ?? throw new InvalidInputException($"{ck.Path}: a student without a distill section; expected a make distill checkpoint.");
        if (d.Stage != Train.Config.DistillStage.Halving)
            throw new InvalidInputException($"{ck.Path} is the guidance stage's student, which is not tied to a step count; export a halving stage's checkpoint (<distill folder>/steps-N/{RunFolder.CheckpointsName}/{RunFolder.LastCheckpointName}).");
        CheckTeacherFolder(outDir, d.OriginSha256, ck.Path);
        var schedule = ck.Config.ScheduleSpec;
        var meta = ck.ToMetadata(GraphKind.Student) with
        {
            Student = new StudentInfo(d.StudentSteps, Runtime.Samplers.TimestepSchedule.Create(schedule.Timesteps, d.StudentSteps, Runtime.Samplers.TimestepSpacing.Trailing),
                d.MinScale, d.MaxScale, d.OriginSha256),
        };
        ck.Ema.eval();
        var graph = UNetExporter.Build(ck.Ema, meta, GraphKind.Student, new ExportOptions { Opset = opset });
        string name = ModelFolderLayout.StudentFile(d.StudentSteps, int8: false);
        using var folderLock = FolderLock.AcquireBeside(outDir, "Model folder");
        // the staging copy holds the folder's card, whose students section and int8 entry are rewritten there
        using var staged = StagedFolder.Begin(outDir, [name, ModelFolderLayout.StudentFile(d.StudentSteps, int8: true)]);
        AtomicFile.WriteAllBytes(Path.Combine(staged.Path, name), OnnxHelper.Serialize(graph));
        var quantized = int8 is null ? [] : Int8Folder.Write(staged.Path, int8, only: [name]);
        StudentCard.Update(staged.Path);
        staged.Commit();
        return (Path.Combine(outDir, name), quantized.Select(r => r with { Path = Path.Combine(outDir, Path.GetFileName(r.Path)) }).ToList());
    }

    // A student goes beside the graphs of the model it was distilled from (or into a folder without graphs)
    private static void CheckTeacherFolder(string outDir, string origin, string student)
    {
        string unet = Path.Combine(outDir, ModelFolderLayout.Unet);
        if (!File.Exists(unet)) return;
        var meta = ModelMetadata.FromProperties(OnnxHelper.Metadata(LoadOnnx(unet)), unet);
        string sha = Sha256(unet);
        if (!DescendsFrom(origin, meta.CheckpointSha256, sha))
            throw new InvalidInputException($"{student} was distilled from another model (origin sha256 {(origin.Length == 0 ? "unknown" : origin[..16] + "...")}) than the graphs in {outDir} ({ModelFolderLayout.Unet} sha256 {sha[..16]}..., checkpoint {(meta.CheckpointSha256.Length == 0 ? "not recorded" : meta.CheckpointSha256[..16] + "...")}); export it into its teacher's folder or an empty one.");
    }

    // The whole folder is built in a staging sibling and swapped in (StagedFolder): a failure at any point, or a kill,
    // leaves the previous export exactly as it was, and no reader ever sees graphs of two exports side by side. Files
    // of the folder that export does not own (the judges) are carried over; int8 graphs of an earlier export are not.
    private static ExportResult Export(Checkpoint ck, string outDir, int opset, bool ema, Int8Calibration? int8)
    {
        var model = ema ? ck.Ema : ck.Model;
        model.eval();
        var source = new ExportSource(ck.Config.Name, Path.GetFileName(ck.Path), ck.Step, ck.Epoch, TrainingRun.Read(ck.Path, ck.Config, ck.Epoch));
        using var folderLock = FolderLock.AcquireBeside(outDir, "Model folder");
        // students' int8 forms are owned (quantized anew or dropped with the teacher's); their float32 graphs are carried
        // over and kept when they descend from this checkpoint (a re-export of the same weights), else dropped
        using var staged = StagedFolder.Begin(outDir, ModelFolderLayout.ExportFiles.Concat(ModelFolderLayout.StudentPairs(outDir).Select(p => p.Int8)));
        var written = ModelFolder.Write(model, ck.ToMetadata(GraphKind.Unet, ema), ck.ConfigJson, staged.Path, source, new ExportOptions { Opset = opset });
        var droppedStudents = DropForeignStudents(staged.Path, ck.FileSha256);
        var quantized = int8 is null ? [] : Int8Folder.Write(staged.Path, int8);
        StudentCard.Update(staged.Path);
        var removed = ModelFolderLayout.Int8Pairs.Select(p => p.Int8)
            .Where(f => File.Exists(Path.Combine(outDir, f)) && !File.Exists(Path.Combine(staged.Path, f)))
            .Select(f => Path.Combine(outDir, f)).ToList();
        staged.Commit();
        string Final(string p) => Path.Combine(outDir, Path.GetFileName(p));
        return written with
        {
            Files = written.Files.Select(Final).ToList(),
            Int8 = quantized.Select(r => r with { Path = Final(r.Path) }).ToList(),
            Removed = removed,
            RemovedStudents = droppedStudents.Select(Final).ToList(),
        };
    }

    // Deletes the students in folder that were not distilled from checkpointSha256 or the folder's unet.onnx
    private static List<string> DropForeignStudents(string folder, string checkpointSha256)
    {
        var dropped = new List<string>();
        string unet = Path.Combine(folder, ModelFolderLayout.Unet);
        string unetSha = File.Exists(unet) ? Sha256(unet) : "";
        foreach (var (file, _) in ModelFolderLayout.StudentPairs(folder))
        {
            string path = Path.Combine(folder, file);
            string origin;
            try { origin = ModelMetadata.FromProperties(OnnxHelper.Metadata(LoadOnnx(path)), path).Student?.DistilledFrom ?? ""; }
            catch (InvalidInputException) { origin = ""; }
            if (DescendsFrom(origin, checkpointSha256, unetSha)) continue;
            File.Delete(path);
            dropped.Add(file);
        }
        return dropped;
    }

    // A student's distilled_from names the teacher's checkpoint or its float32 unet.onnx (the runtime's loader checks the same)
    private static bool DescendsFrom(string origin, string checkpointSha256, string unetSha256) => origin.Length > 0
        && (string.Equals(origin, checkpointSha256, StringComparison.OrdinalIgnoreCase) || string.Equals(origin, unetSha256, StringComparison.OrdinalIgnoreCase));

    private static string Sha256(string file) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file)));
}
