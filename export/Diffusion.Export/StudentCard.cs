using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Diffusion.Onnx;
using Diffusion.Runtime;
using Diffusion.Tools;

namespace Diffusion.Export;

/// <summary>
/// The model card's part on a folder's distilled students (issue 18): <c>model-card.json</c> key "students" and the
/// Markdown section between <see cref="ModelCard.StudentsBegin"/> and <see cref="ModelCard.StudentsEnd"/>, rebuilt from
/// the student graphs in the folder (their metadata, sizes and hashes) whenever export writes or drops one. A folder
/// without students has neither. The students' quality rows are eval's (<see cref="ModelCard.StudentQualityBegin"/>).
/// </summary>
public static class StudentCard
{
    /// <summary>Key of <c>model-card.json</c> listing the students by file.</summary>
    public const string Key = "students";

    /// <summary>Rebuilds the students' part of the card of <paramref name="modelDir"/> (a folder without a card is left alone).</summary>
    /// <exception cref="InvalidInputException">A student file that is not a student graph of this pipeline.</exception>
    public static void Update(string modelDir)
    {
        if (!File.Exists(ModelCard.JsonPath(modelDir))) return;
        string md = ModelCard.MarkdownPath(modelDir);
        var pairs = ModelFolderLayout.StudentPairs(modelDir);
        if (pairs.Count == 0)
        {
            ModelCard.RemoveJson(modelDir, Key);
            ModelCard.RemoveSection(md, ModelCard.StudentsBegin, ModelCard.StudentsEnd);
            return;
        }
        var inv = CultureInfo.InvariantCulture;
        var json = new JsonObject();
        var rows = new StringBuilder();
        string origin = "";
        foreach (var (file, int8) in pairs)
        {
            string path = Path.Combine(modelDir, file);
            byte[] bytes = File.ReadAllBytes(path);
            var meta = ModelMetadata.FromProperties(OnnxHelper.Metadata(ExportCommand.LoadOnnx(path)), path);
            var st = meta.Student ?? throw new InvalidInputException($"{path}: not a distilled student (its metadata has no student_steps).");
            bool hasInt8 = File.Exists(Path.Combine(modelDir, int8));
            origin = st.DistilledFrom;
            json[file] = new JsonObject
            {
                ["steps"] = st.Steps,
                ["timesteps"] = new JsonArray(st.Timesteps.Select(t => (JsonNode)t).ToArray()),
                ["sampler"] = StudentInfo.Sampler,
                ["prediction"] = Prediction.Name(meta.Prediction),
                ["scale_range"] = new JsonArray(st.MinScale, st.MaxScale),
                ["distilled_from"] = st.DistilledFrom,
                ["training_steps"] = meta.CheckpointStep,
                ["bytes"] = bytes.LongLength,
                [ModelFolderLayout.CardSha256Key] = Convert.ToHexStringLower(SHA256.HashData(bytes)),
                ["int8"] = hasInt8 ? int8 : null,
            };
            rows.Append(inv, $"| `{file}` | {st.Steps} | {string.Join(", ", st.Timesteps)} | {Prediction.Name(meta.Prediction)} | {st.MinScale:G} to {st.MaxScale:G} | {meta.CheckpointStep?.ToString(inv) ?? "-"} | {bytes.LongLength.ToString("N0", inv)} | {(hasInt8 ? $"`{int8}`" : "-")} |\n");
        }
        ModelCard.SetJson(modelDir, Key, json);
        if (!File.Exists(md)) return;
        var sb = new StringBuilder();
        sb.Append("## Distilled students\n\n");
        sb.Append("Few-step students of this model (`make distill`: a guidance-conditioned student that takes the guidance scale as an input, ");
        sb.Append("then progressive distillation, each stage halving the steps; Meng et al. 2023, Salimans & Ho 2022). ");
        sb.Append("The runtime samples with one when the requested steps match its step count and the scale lies in its range: ");
        sb.Append("DDIM (eta 0) on its own timesteps, one model call per step, guidance through its `scale` input ");
        sb.Append("(`GenerationRequest.Student`; `generate --student auto|off|require`). ");
        sb.Append(inv, $"Distilled from SHA-256 `{origin[..Math.Min(16, origin.Length)]}...` (the checkpoint or float32 graph of this folder).\n\n");
        sb.Append("| File | Steps | Timesteps | Predicts | Guidance scales | Training steps (last stage) | Bytes | int8 form |\n|---|---:|---|---|---|---:|---:|---|\n");
        sb.Append(rows);
        sb.Append("\nTheir quality, measured by `make eval ARGS='--model <this folder> --steps N --student require --card <this card>'`, is in the table below when it has been run.\n");
        ModelCard.SetSection(md, ModelCard.StudentsBegin, ModelCard.StudentsEnd, sb.ToString());
    }
}
