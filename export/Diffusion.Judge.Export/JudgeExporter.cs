using Diffusion.Onnx.Torch;
using Diffusion.Onnx;
using Diffusion.Onnx.Proto;
using Diffusion.Runtime;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;
using Diffusion.Tools;

namespace Diffusion.Judge.Export;

/// <summary>
/// Turns a trained <see cref="JudgeCnn"/> into <c>judge.onnx</c>: input <c>image</c> float [batch, 1, 28, 28] in
/// [-1, 1]; outputs <c>logits</c> [batch, K], <c>probabilities</c> [batch, K] (Softmax over classes) and
/// <c>features</c> [batch, F] (the penultimate layer after ReLU). Carries <see cref="JudgeMetadata"/>.
/// The same checkpoint always gives the same bytes.
/// </summary>
public static class JudgeExporter
{
    /// <summary>producer_name of exported judges.</summary>
    public const string ProducerName = "Diffusion.Judge.Export";
    /// <summary>Symbolic batch dimension.</summary>
    public const string Batch = "batch";

    /// <summary>Emitters for the judge: torch's layers (BatchNorm2d among them); JudgeCnn writes its own nodes (JudgeCnn.Onnx.cs).</summary>
    public static EmitterRegistry Emitters() => EmitterRegistry.CreateDefault();

    /// <summary>Builds the ONNX model of <paramref name="model"/> (which must be in eval mode).</summary>
    /// <exception cref="UnsupportedModuleException">A module without emitter (the message names its path).</exception>
    public static ModelProto Build(JudgeCnn model, JudgeMetadata metadata, int opset = OnnxOpset.Default)
    {
        Diffusion.Export.ExportCommand.CheckOpset(opset);
        var cfg = model.Config;
        if (metadata.NumClasses != cfg.NumClasses || metadata.FeatureDim != cfg.FeatureDim)
            throw new InvalidInputException($"Judge metadata ({metadata.NumClasses} classes, F = {metadata.FeatureDim}) does not match the model ({cfg.NumClasses} classes, F = {cfg.FeatureDim}).");
        model.eval();
        var g = new GraphBuilder(opset);
        var ctx = new ExportContext(g, Emitters());
        var image = g.Input(JudgeMetadata.ImageInput, DataType.Float, Batch, cfg.InChannels, cfg.ImageSize, cfg.ImageSize);
        var outs = ctx.EmitRoot(model, image);
        var (logits, features) = (outs[0], outs[1]);
        GraphValue probs;
        using (g.PushScope("softmax")) probs = g.Softmax(logits, axis: 1);
        g.Output(logits, JudgeMetadata.LogitsOutput);
        g.Output(probs, JudgeMetadata.ProbabilitiesOutput);
        g.Output(features, JudgeMetadata.FeaturesOutput);
        string doc = $"Judge classifier for {metadata.Dataset} ({cfg.NumClasses} classes). Input: image float [batch, {cfg.InChannels}, {cfg.ImageSize}, {cfg.ImageSize}], pixels in [-1, 1]. "
            + $"Outputs: logits [batch, {cfg.NumClasses}], probabilities [batch, {cfg.NumClasses}] (softmax), features [batch, {cfg.FeatureDim}] (penultimate layer, after ReLU).";
        return g.BuildModel(JudgeMetadata.GraphName, metadata.ToProperties(), ProducerName, OnnxHelper.ProducerVersion, doc);
    }

    /// <summary>Metadata of a trained checkpoint.</summary>
    public static JudgeMetadata MetadataOf(JudgeCheckpoint checkpoint)
    {
        var info = checkpoint.Info;
        var cfg = info.Config;
        return new JudgeMetadata
        {
            Dataset = info.Dataset, ClassNames = info.ClassNames, Channels = cfg.InChannels, Height = cfg.ImageSize, Width = cfg.ImageSize,
            FeatureDim = cfg.FeatureDim, TestAccuracy = info.TestAccuracy,
            Architecture = $"JudgeCnn conv {cfg.Channels1}x2-{cfg.Channels2}x2, features {cfg.FeatureDim}, {info.Parameters} parameters",
            TrainCommand = info.Command, SourceCommit = info.SourceCommit, TrainSeconds = info.TrainSeconds,
            TrainHardware = $"{info.Hardware}, {info.Threads} threads",
        };
    }
}
