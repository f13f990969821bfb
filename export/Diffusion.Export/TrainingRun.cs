using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Diffusion.Runtime;
using Diffusion.Train.Config;
using Diffusion.Train.Training;
using Diffusion.Tools;

namespace Diffusion.Export;

/// <summary>
/// What the model card says about the run behind a checkpoint: the per-epoch log the trainer wrote beside it
/// (<c>runs/&lt;name&gt;/log.jsonl</c>), the threads and device it ran with, and the SHA-256 of the training data
/// files. Read at export time, so the card's time and hardware come from the run, not from a person.
/// </summary>
/// <param name="Epochs">Per-epoch records up to the checkpoint's epoch (empty when the log is missing).</param>
/// <param name="Threads">Intra-op threads of the run (0 = all cores).</param>
/// <param name="Device">Device the run asked for.</param>
/// <param name="DataSha256">File name to SHA-256 of the training split's IDX files (empty when the data folder is gone).</param>
public sealed record TrainingRun(IReadOnlyList<EpochRecord> Epochs, int Threads, string Device, IReadOnlyDictionary<string, string> DataSha256)
{
    /// <summary>Wall time of the epochs, seconds.</summary>
    public double Seconds => Epochs.Sum(e => e.Seconds);
    /// <summary>Process CPU time of the epochs, seconds.</summary>
    public double CpuSeconds => Epochs.Sum(e => e.CpuSeconds);

    /// <summary>
    /// Reads the run of <paramref name="checkpointPath"/> (<c>RUN/checkpoints/X.ckpt</c>, log at <c>RUN/log.jsonl</c>)
    /// up to <paramref name="epoch"/>; missing pieces are left empty rather than guessed.
    /// </summary>
    public static TrainingRun Read(string checkpointPath, TrainConfig config, int epoch)
    {
        string log = RunFolder.OfCheckpoint(checkpointPath)?.Log ?? "";
        var epochs = new List<EpochRecord>();
        if (File.Exists(log))
            foreach (var line in File.ReadLines(log).Where(l => l.Length > 0))
                if (JsonSerializer.Deserialize<EpochRecord>(line) is { } r && r.Epoch <= epoch) epochs.Add(r);
        var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        try
        {
            var (images, labels) = IdxDataset.SplitFiles(config.Data, "train");
            foreach (var f in new[] { images, labels })
            {
                using var s = File.OpenRead(f);
                hashes[Path.GetFileName(f)] = Convert.ToHexStringLower(SHA256.HashData(s));
            }
        }
        catch (InvalidInputException) { }
        return new TrainingRun(epochs, config.Threads, config.Device.ToString().ToLowerInvariant(), hashes);
    }

    /// <summary>The card's JSON node.</summary>
    public JsonObject ToJson() => new()
    {
        ["epochs"] = Epochs.Count,
        ["seconds"] = Math.Round(Seconds, 1),
        ["cpu_seconds"] = Math.Round(CpuSeconds, 1),
        ["final_loss"] = Epochs.Count > 0 ? Epochs[^1].Loss : null,
        ["images_per_s_last_epoch"] = Epochs.Count > 0 ? Math.Round(Epochs[^1].ImagesPerSecond, 1) : null,
        ["threads"] = Threads,
        ["device"] = Device,
        ["exported_on"] = MachineInfo.Describe(),
        ["data_sha256"] = new JsonObject(DataSha256.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value)))),
        ["log"] = new JsonArray(Epochs.Select(e => (JsonNode?)JsonSerializer.SerializeToNode(e)).ToArray()),
    };

    /// <summary>The card's Markdown section (from <see cref="ToJson"/>'s node) for the run named <paramref name="name"/>.</summary>
    public static string Markdown(JsonObject run, string name)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder("## Training run\n\n");
        sb.Append(inv, $"Reproduce (the release models' configs are `configs/<name>.json`): `make train ARGS='--config configs/{name}.json'`, ");
        sb.Append(inv, $"then `make export ARGS='--checkpoint runs/{name}/checkpoints/{RunFolder.LastCheckpointName} --out models/{name}'`");
        sb.Append(name == "mnist" ? " (the defaults: `make train export`). " : ". ");
        sb.Append("Threads and device are operational settings, not part of the config.\n\n");
        var log = run["log"]!.AsArray();
        if (log.Count == 0) sb.Append($"No training log (`{RunFolder.LogName}`) was found beside the checkpoint.\n\n");
        else
        {
            double s = run["seconds"]!.GetValue<double>(), cpu = run["cpu_seconds"]!.GetValue<double>();
            int threads = run["threads"]!.GetValue<int>();
            sb.Append(inv, $"{log.Count} epochs in {s / 60:F1} min of wall time ({cpu / 60:F1} min of CPU), device {run["device"]}, ");
            sb.Append(threads == 0 ? "all cores" : $"{threads} intra-op thread{(threads == 1 ? "" : "s")}").Append(inv, $"; exported on {run["exported_on"]}.\n\n");
            sb.Append("| Epoch | Step | Loss | Learning rate | Images/s | Minutes |\n|---:|---:|---:|---:|---:|---:|\n");
            foreach (var e in log)
                sb.Append(inv, $"| {e!["epoch"]} | {e["step"]} | {e["loss"]!.GetValue<double>():F5} | {e["lr"]!.GetValue<double>():E2} | {e["images_per_s"]!.GetValue<double>():F1} | {e["seconds"]!.GetValue<double>() / 60:F1} |\n");
            sb.Append('\n');
        }
        var data = run["data_sha256"]!.AsObject();
        if (data.Count > 0)
        {
            sb.Append("Training data (SHA-256, as checked by `make data`):\n\n");
            foreach (var (k, v) in data) sb.Append(inv, $"- `{k}`: `{v}`\n");
            sb.Append('\n');
        }
        return sb.ToString();
    }
}
