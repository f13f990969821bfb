using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Diffusion.Onnx;
using Diffusion.Onnx.Proto;
using Diffusion.Runtime;
using Diffusion.Train.Model;
using Diffusion.Tools;

namespace Diffusion.Export;

/// <summary>Where the exported weights came from, for the model card.</summary>
/// <param name="Name">Model name (the run name, e.g. "mnist").</param>
/// <param name="Checkpoint">Checkpoint file name (no folder, so the card does not depend on where it was run).</param>
/// <param name="Step">Optimizer steps of the checkpoint.</param>
/// <param name="Epoch">Epochs of the checkpoint.</param>
/// <param name="Run">The training run behind the checkpoint (log, threads, data hashes) for the card; null: none.</param>
public sealed record ExportSource(string Name, string? Checkpoint = null, long? Step = null, int? Epoch = null, TrainingRun? Run = null);

/// <summary>What <see cref="ModelFolder.Write"/> wrote.</summary>
/// <param name="Files">Paths written, in order.</param>
/// <param name="ParameterCount">Trainable parameters.</param>
/// <param name="UnetFlops">FLOPs per image of unet.onnx.</param>
/// <param name="GuidedFlops">FLOPs per image of unet-guided.onnx (two U-Net passes).</param>
/// <param name="Dataset">The model's dataset (metadata), e.g. "mnist": names the default calibration folder data/&lt;dataset&gt;.</param>
public sealed record ExportResult(IReadOnlyList<string> Files, long ParameterCount, FlopCount UnetFlops, FlopCount GuidedFlops, string Dataset = "")
{
    /// <summary>The int8 graphs written (<c>export</c> with calibration data), or none.</summary>
    public IReadOnlyList<Int8FileResult> Int8 { get; init; } = [];
    /// <summary>Int8 graphs of the earlier export that the new folder no longer holds.</summary>
    public IReadOnlyList<string> Removed { get; init; } = [];
    /// <summary>Distilled students of the earlier export that do not descend from the new one (dropped with their int8 forms).</summary>
    public IReadOnlyList<string> RemovedStudents { get; init; } = [];
}

/// <summary>
/// Writes an exported model folder: <c>unet.onnx</c>, <c>unet-guided.onnx</c>, <c>model-card.md</c> and
/// <c>model-card.json</c> (config, parameter count, FLOPs per image counted from the graphs, metadata, file
/// hashes). Everything is built in memory first and each file is written atomically; the same inputs give
/// byte-identical files. The export command writes into a staging folder that replaces the model folder as a whole
/// (<see cref="StagedFolder"/>), so a folder never holds the files of two exports.
/// </summary>
public static class ModelFolder
{
    // the card's key for the architecture, written by Write and read back by ReadUNetConfig
    private const string UNetConfigKey = "unet_config";

    /// <summary>The U-Net architecture an exported folder was built from (its card's <c>unet_config</c>), to rebuild the network around the graph's weights.</summary>
    /// <exception cref="InvalidInputException">No card, or none written by export.</exception>
    public static UNetConfig ReadUNetConfig(string folder)
    {
        string card = ModelCard.JsonPath(folder);
        var node = ModelCard.ReadJson(folder)[UNetConfigKey]
            ?? throw new InvalidInputException($"{card}: no '{UNetConfigKey}'; expected a card written by `export`.");
        try { return node.Deserialize<UNetConfig>() ?? throw new InvalidInputException($"{card}: '{UNetConfigKey}' is empty."); }
        catch (JsonException e) { throw new InvalidInputException($"{card}: '{UNetConfigKey}' is not a U-Net configuration ({e.Message}).", e); }
    }

    /// <summary>Exports <paramref name="model"/> into <paramref name="outDir"/>.</summary>
    /// <param name="model">Network to export (EMA weights normally).</param>
    /// <param name="metadata">Metadata (graph kind is set per file).</param>
    /// <param name="configJson">Resolved training config JSON, embedded in the card (null: none).</param>
    /// <param name="outDir">Destination folder (created).</param>
    /// <param name="source">Name and checkpoint facts for the card.</param>
    /// <param name="options">Opset and emitters.</param>
    /// <inheritdoc cref="UNetExporter.Build" path="/exception"/>
    public static ExportResult Write(UNet model, ModelMetadata metadata, string? configJson, string outDir, ExportSource source, ExportOptions? options = null)
    {
        options ??= new ExportOptions();
        var (unet, guided) = UNetExporter.BuildBoth(model, metadata, options);
        byte[] unetBytes = OnnxHelper.Serialize(unet), guidedBytes = OnnxHelper.Serialize(guided);
        var unetFlops = FlopCounter.Count(unet);
        var guidedFlops = FlopCounter.Count(guided);
        long parameters = model.ParameterCount();
        var card = CardJsonNode(model.Config, unet, metadata, configJson, source, parameters, unetFlops, guidedFlops,
            [(ModelFolderLayout.Unet, unetBytes), (ModelFolderLayout.Guided, guidedBytes)]);
        string md = CardMarkdownText(card, metadata);

        var written = new List<string>();
        foreach (var (name, bytes) in new[] { (ModelFolderLayout.Unet, unetBytes), (ModelFolderLayout.Guided, guidedBytes) })
        {
            string path = Path.Combine(outDir, name);
            AtomicFile.WriteAllBytes(path, bytes);
            written.Add(path);
        }
        ModelCard.Write(outDir, md, card);
        written.Add(ModelCard.JsonPath(outDir));
        written.Add(ModelCard.MarkdownPath(outDir));
        return new ExportResult(written, parameters, unetFlops, guidedFlops, metadata.Dataset);
    }

    private static JsonObject CardJsonNode(UNetConfig cfg, ModelProto unet, ModelMetadata metadata, string? configJson, ExportSource source,
        long parameters, FlopCount unetFlops, FlopCount guidedFlops, (string Name, byte[] Bytes)[] onnxFiles)
    {
        static JsonObject Flops(FlopCount f) => new()
        {
            ["total"] = f.Total,
            ["by_op"] = new JsonObject(f.ByOpType.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value)))),
        };
        var props = metadata.ToProperties();
        props.Remove(ModelMetadata.Prefix + "graph");
        var files = new JsonObject();
        foreach (var (name, bytes) in onnxFiles)
            files[name] = new JsonObject { ["bytes"] = bytes.LongLength, [ModelFolderLayout.CardSha256Key] = Convert.ToHexStringLower(SHA256.HashData(bytes)) };
        string shape = $"[batch, {cfg.InChannels}, {cfg.ImageSize}, {cfg.ImageSize}]";
        return new JsonObject
        {
            ["name"] = source.Name,
            ["dataset"] = metadata.Dataset,
            ["architecture"] = metadata.Architecture,
            ["prediction"] = Prediction.Name(metadata.Prediction),
            ["parameters"] = parameters,
            ["flops_per_image"] = new JsonObject { ["unet"] = Flops(unetFlops), ["unet_guided"] = Flops(guidedFlops) },
            [ModelFolderLayout.CardOnnxKey] = new JsonObject
            {
                ["opset"] = unet.OpsetImport[0].Version,
                ["ir_version"] = unet.IrVersion,
                ["producer"] = $"{unet.ProducerName} {unet.ProducerVersion}",
                [ModelFolderLayout.CardFilesKey] = files,
                ["inputs"] = new JsonObject
                {
                    [UNetSignature.X] = $"float {shape}, x_t in [-1, 1] pixel scale",
                    [UNetSignature.T] = $"int64 [batch], timestep 0..{metadata.Timesteps - 1}",
                    [UNetSignature.Y] = $"int64 [batch], class 0..{metadata.NumClasses - 1} or {metadata.NullClass} (null class)",
                    [UNetSignature.Scale] = $"float [batch], {ModelFolderLayout.Guided} only: guidance scale (1 = conditional, 0 = unconditional)",
                },
                ["output"] = $"{UNetSignature.Output}: float {shape}, the {Prediction.Name(metadata.Prediction)} prediction",
            },
            ["checkpoint"] = new JsonObject { ["file"] = source.Checkpoint, ["step"] = source.Step, ["epoch"] = source.Epoch, ["ema"] = metadata.Ema },
            ["metadata"] = new JsonObject(props.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value)))),
            [UNetConfigKey] = JsonSerializer.SerializeToNode(cfg),
            [ModelCard.ConfigKey] = configJson is null ? null : JsonNode.Parse(configJson),
            ["training_run"] = source.Run?.ToJson(),
        };
    }

    private static string CardMarkdownText(JsonObject card, ModelMetadata m)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        var onnx = card[ModelFolderLayout.CardOnnxKey]!.AsObject();
        var flops = card["flops_per_image"]!.AsObject();
        long F(string graph) => flops[graph]!["total"]!.GetValue<long>();
        sb.Append(inv, $"# Model card: {card["name"]}\n\n");
        sb.Append(inv, $"Class-conditional DDPM U-Net for **{m.Dataset}**, exported from TorchSharp to ONNX (opset {onnx["opset"]}, IR {onnx["ir_version"]}) by `export`.\n");
        sb.Append(inv, $"{(m.Ema ? "EMA" : "Raw (non-EMA)")} weights, {Prediction.Name(m.Prediction)} prediction, {NoiseSchedule.Name(m.Schedule)} schedule with T = {m.Timesteps}.\n\n");
        sb.Append("| | |\n|---|---|\n");
        sb.Append(inv, $"| Architecture | {m.Architecture} |\n");
        sb.Append(inv, $"| Parameters | {card["parameters"]!.GetValue<long>().ToString("N0", inv)} |\n");
        sb.Append(inv, $"| FLOPs per image, {ModelFolderLayout.Unet} | {F("unet").ToString("N0", inv)} ({F("unet") / 1e6:F1} M) |\n");
        sb.Append(inv, $"| FLOPs per image, {ModelFolderLayout.Guided} | {F("unet_guided").ToString("N0", inv)} ({F("unet_guided") / 1e6:F1} M; two U-Net passes) |\n");
        var ck = card["checkpoint"]!;
        if (ck["file"] is not null) sb.Append(inv, $"| Checkpoint | {ck["file"]}, step {ck["step"]}, epoch {ck["epoch"]} |\n");
        sb.Append("\nFLOPs count convolutions and matrix products from the exported graph, 2 per multiply-accumulate.\n\n");

        sb.Append("## Files\n\n| File | Bytes | SHA-256 |\n|---|---:|---|\n");
        foreach (var (name, f) in onnx[ModelFolderLayout.CardFilesKey]!.AsObject())
            sb.Append(inv, $"| {name} | {f!["bytes"]!.GetValue<long>().ToString("N0", inv)} | `{f[ModelFolderLayout.CardSha256Key]}` |\n");

        sb.Append("\n## Inputs and output\n\n| Name | Meaning |\n|---|---|\n");
        foreach (var (name, v) in onnx["inputs"]!.AsObject()) sb.Append(inv, $"| `{name}` | {v} |\n");
        sb.Append(inv, $"| `{UNetSignature.Output}` | {onnx["output"]!.GetValue<string>().Split(": ", 2)[1]} |\n\n");
        sb.Append($"Guidance in `{ModelFolderLayout.Guided}` follows diffusers: `out = uncond + scale * (cond - uncond)`; scale 1 is the plain ");
        sb.Append("conditional model, 0 the unconditional one. For the `(1 + w) * cond - w * uncond` convention pass `scale = 1 + w`.\n\n");

        sb.Append("## Metadata (ONNX metadata_props)\n\n| Key | Value |\n|---|---|\n");
        foreach (var (k, v) in card["metadata"]!.AsObject()) sb.Append(inv, $"| `{k}` | `{v!.GetValue<string>().Replace("|", "\\|", StringComparison.Ordinal)}` |\n");
        sb.Append('\n');
        if (card["training_run"] is JsonObject run) sb.Append(TrainingRun.Markdown(run, card["name"]!.GetValue<string>()));
        sb.Append("## Training config\n\n```json\n");
        sb.Append(card[ModelCard.ConfigKey] is { } c ? c.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) : card[UNetConfigKey]!.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        sb.Append("\n```\n");
        return sb.ToString();
    }
}
