using System.Globalization;

namespace Diffusion.Tools;

/// <summary>
/// The layout of a training run folder (<c>runs/&lt;name&gt;/</c>): the one owner of its names. The trainer writes it,
/// export reads its checkpoint and log, the study keeps one per run.
/// <code>
/// runs/&lt;name&gt;/config.json            the resolved config
///              log.jsonl              one JSON line per epoch
///              checkpoints/last.ckpt  the latest (resumable) checkpoint; epoch-0001.ckpt ... kept every N epochs
///              samples/epoch-0001.png sample grids
///              tb/                    TensorBoard events
///              data-cache/            an image folder's decoded images (train-&lt;key&gt;.bin), reused by later runs and resumes
/// runs/judge-&lt;dataset&gt;/judge.ckpt     the judge classifier's checkpoint
/// </code>
/// </summary>
/// <param name="Dir">The run folder.</param>
public sealed record RunFolder(string Dir)
{
    /// <summary>Where runs live by default.</summary>
    public const string RunsRoot = "runs";
    /// <summary>Checkpoint folder name.</summary>
    public const string CheckpointsName = "checkpoints";
    /// <summary>The latest checkpoint's file name.</summary>
    public const string LastCheckpointName = "last.ckpt";
    /// <summary>The epoch log's file name.</summary>
    public const string LogName = "log.jsonl";
    /// <summary>The resolved config's file name.</summary>
    public const string ConfigName = "config.json";
    /// <summary>Sample grid folder name.</summary>
    public const string SamplesName = "samples";
    /// <summary>TensorBoard folder name.</summary>
    public const string TensorBoardName = "tb";
    /// <summary>The decoded-image cache folder's name.</summary>
    public const string DataCacheName = "data-cache";
    /// <summary>The judge classifier's checkpoint file name.</summary>
    public const string JudgeCheckpointName = "judge.ckpt";

    /// <summary><c>runs/&lt;name&gt;</c>.</summary>
    public static RunFolder Named(string name) => new(Path.Combine(RunsRoot, name));

    /// <summary>The judge classifier's run of a dataset: <c>runs/judge-&lt;dataset&gt;</c>.</summary>
    public static RunFolder Judge(string dataset) => Named($"judge-{dataset}");

    /// <summary>The default checkpoint of a run as a user types it: <c>runs/&lt;name&gt;/checkpoints/last.ckpt</c>.</summary>
    public static string DisplayLastCheckpoint(string name) => $"{RunsRoot}/{name}/{CheckpointsName}/{LastCheckpointName}";

    /// <summary>
    /// The run a checkpoint belongs to: the folder above its <c>checkpoints</c> folder, or null when the checkpoint
    /// does not sit in one (a copied or renamed file).
    /// </summary>
    public static RunFolder? OfCheckpoint(string checkpointPath)
    {
        var parent = Path.GetDirectoryName(Path.GetFullPath(checkpointPath));
        if (parent is null || Path.GetFileName(parent) != CheckpointsName) return null;
        return Path.GetDirectoryName(parent) is { } run ? new RunFolder(run) : null;
    }

    /// <summary>The checkpoint folder.</summary>
    public string Checkpoints => Path.Combine(Dir, CheckpointsName);
    /// <summary>The latest checkpoint.</summary>
    public string LastCheckpoint => Path.Combine(Checkpoints, LastCheckpointName);
    /// <summary>The epoch log.</summary>
    public string Log => Path.Combine(Dir, LogName);
    /// <summary>The resolved config.</summary>
    public string Config => Path.Combine(Dir, ConfigName);
    /// <summary>The sample grid folder.</summary>
    public string Samples => Path.Combine(Dir, SamplesName);
    /// <summary>The TensorBoard folder.</summary>
    public string TensorBoard => Path.Combine(Dir, TensorBoardName);
    /// <summary>The decoded-image cache of an image-folder run (<c>Imaging.ImageFolderCache</c>).</summary>
    public string DataCache => Path.Combine(Dir, DataCacheName);
    /// <summary>The judge classifier's checkpoint (judge runs).</summary>
    public string JudgeCheckpoint => Path.Combine(Dir, JudgeCheckpointName);
    /// <summary>The checkpoint kept after <paramref name="epoch"/>.</summary>
    public string EpochCheckpoint(int epoch) => Path.Combine(Checkpoints, string.Create(CultureInfo.InvariantCulture, $"epoch-{epoch:D4}.ckpt"));
    /// <summary>The sample grid of <paramref name="epoch"/>.</summary>
    public string SampleGrid(int epoch) => Path.Combine(Samples, string.Create(CultureInfo.InvariantCulture, $"epoch-{epoch:D4}.png"));
}
