using Diffusion.Onnx.Torch;
using Diffusion.Onnx;
using Diffusion.Onnx.Proto;
using Diffusion.Runtime;
using Diffusion.Train.Model;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;

namespace Diffusion.Export;

/// <summary>Options of an export.</summary>
public sealed record ExportOptions
{
    /// <summary>Opset of the default ONNX domain (17 by default; see <see cref="OnnxOpset"/>).</summary>
    public int Opset { get; init; } = OnnxOpset.Default;
    /// <summary>Emitters to use (default: <see cref="EmitterRegistry.CreateDefault"/>).</summary>
    public EmitterRegistry? Emitters { get; init; }
}

/// <summary>
/// Turns a TorchSharp <see cref="UNet"/> into ONNX graphs by walking its module tree with one emitter per module
/// type (<see cref="EmitterRegistry"/>):
/// <list type="bullet">
/// <item><c>unet.onnx</c>: inputs <c>x</c> float [batch, C, H, W], <c>t</c> int64 [batch], <c>y</c> int64 [batch]
/// (null class = NumClasses allowed); output <c>out</c> [batch, C, H, W], the model's native prediction.</item>
/// <item><c>unet-guided.onnx</c>: the same plus <c>scale</c> float [batch]; runs the U-Net once on the doubled
/// batch ([x; x], [t; t], [y; null]) and returns uncond + scale * (cond - uncond) (diffusers convention,
/// scale 1 = conditional; the "(1 + w) cond - w uncond" convention is scale = 1 + w).</item>
/// <item><c>unet-student.onnx</c> (a guidance-conditioned student, <see cref="UNetConfig.GuidanceEmbedding"/>): the
/// guided graph's inputs and output in one pass of the network on the batch, the scale being its fourth input.</item>
/// </list>
/// Each carries <see cref="ModelMetadata"/> as metadata_props. The same model and options give byte-identical files.
/// </summary>
public static class UNetExporter
{
    /// <summary>producer_name of exported models.</summary>
    public const string ProducerName = "Diffusion.Export";

    /// <summary>Builds <c>unet.onnx</c> (<paramref name="kind"/> = Unet), <c>unet-guided.onnx</c> (Guided) or, for a guidance-conditioned student, <c>unet-student.onnx</c> (Student).</summary>
    /// <param name="model">The network (its weights are read, not changed).</param>
    /// <param name="metadata">Metadata; its <see cref="ModelMetadata.Graph"/> is set to <paramref name="kind"/>.</param>
    /// <param name="kind">Which graph.</param>
    /// <param name="options">Opset and emitters.</param>
    /// <exception cref="InvalidInputException">Metadata that contradicts the architecture, or an unsupported opset.</exception>
    /// <exception cref="UnsupportedModuleException">A module the exporter cannot translate (the message names its path).</exception>
    public static ModelProto Build(UNet model, ModelMetadata metadata, GraphKind kind, ExportOptions? options = null)
    {
        options ??= new ExportOptions();
        ExportCommand.CheckOpset(options.Opset);
        var cfg = model.Config;
        CheckMetadata(cfg, metadata);
        if ((kind == GraphKind.Student) != cfg.GuidanceEmbedding)
            throw new InvalidInputException(cfg.GuidanceEmbedding
                ? $"This U-Net is a guidance-conditioned student: its graph is {ModelMetadata.GraphName(GraphKind.Student)}, not {ModelMetadata.GraphName(kind)}."
                : $"A {ModelMetadata.GraphName(GraphKind.Student)} graph needs a guidance-conditioned U-Net (model.guidance_embedding).");
        metadata = metadata with { Graph = kind };
        var g = new GraphBuilder(options.Opset);
        var ctx = new ExportContext(g, options.Emitters ?? EmitterRegistry.CreateDefault());
        var x = g.Input(UNetSignature.X, DataType.Float, UNetSignature.BatchDim, cfg.InChannels, cfg.ImageSize, cfg.ImageSize);
        var t = g.Input(UNetSignature.T, DataType.Int64, UNetSignature.BatchDim);
        var y = g.Input(UNetSignature.Y, DataType.Int64, UNetSignature.BatchDim);
        GraphValue result;
        if (kind == GraphKind.Unet)
            result = ctx.EmitRoot(model, x, t, y)[0];
        else if (kind == GraphKind.Student)
            result = ctx.EmitRoot(model, x, t, y, g.Input(UNetSignature.Scale, DataType.Float, UNetSignature.BatchDim))[0];
        else
        {
            var scale = g.Input(UNetSignature.Scale, DataType.Float, UNetSignature.BatchDim);
            GraphValue x2, t2, y2;
            using (g.PushScope("guidance"))
            {
                var nullY = g.ConstantOfShape(g.Shape(y), cfg.NumClasses, y.Shape);   // [batch] filled with the null class
                (x2, t2, y2) = (g.Concat(0, x, x), g.Concat(0, t, t), g.Concat(0, y, nullY));
            }
            var both = ctx.EmitRoot(model, x2, t2, y2)[0];                          // [2*batch, C, H, W]
            using (g.PushScope("guidance"))
            {
                var halves = g.Split(both, 0, 2);                                    // cond, uncond
                var (cond, uncond) = (halves[0], halves[1]);
                // Guidance.Combine: uncond + s * (cond - uncond), s per sample
                result = g.Add(uncond, g.Mul(g.Unsqueeze(scale, 1, 2, 3), g.Sub(cond, uncond)));
            }
        }
        g.Output(result, UNetSignature.Output);
        return g.BuildModel(UNetSignature.GraphName(kind), metadata.ToProperties(), ProducerName,
            OnnxHelper.ProducerVersion, DocString(cfg, metadata, kind));
    }

    /// <summary>Builds both graphs.</summary>
    /// <inheritdoc cref="Build" path="/exception"/>
    public static (ModelProto Unet, ModelProto Guided) BuildBoth(UNet model, ModelMetadata metadata, ExportOptions? options = null)
        => (Build(model, metadata, GraphKind.Unet, options), Build(model, metadata, GraphKind.Guided, options));

    private static void CheckMetadata(UNetConfig cfg, ModelMetadata m)
    {
        if (m.Channels != cfg.InChannels || m.Height != cfg.ImageSize || m.Width != cfg.ImageSize)
            throw new InvalidInputException($"Metadata image shape [{m.Channels},{m.Height},{m.Width}] does not match the model's [{cfg.InChannels},{cfg.ImageSize},{cfg.ImageSize}].");
        if (m.NumClasses != cfg.NumClasses)
            throw new InvalidInputException($"Metadata num_classes {m.NumClasses} does not match the model's {cfg.NumClasses}.");
        if (m.ClassNames.Count != 0 && m.ClassNames.Count != m.NumClasses)
            throw new InvalidInputException($"Metadata has {m.ClassNames.Count} class names for {m.NumClasses} classes.");
        if (m.Timesteps < 1) throw new InvalidInputException($"Metadata timesteps = {m.Timesteps}; expected T >= 1.");
    }

    private static string DocString(UNetConfig cfg, ModelMetadata m, GraphKind kind)
    {
        string io = $"x float [batch, {cfg.InChannels}, {cfg.ImageSize}, {cfg.ImageSize}] (x_t, pixels in [-1, 1]), t int64 [batch] (0..{m.Timesteps - 1}), "
            + $"y int64 [batch] (0..{cfg.NumClasses - 1}, {cfg.NumClasses} = null class)";
        string pred = Prediction.Name(m.Prediction);
        return kind switch
        {
            GraphKind.Unet => $"Class-conditional DDPM U-Net ({m.Dataset}). Inputs: {io}. Output: out float [batch, {cfg.InChannels}, {cfg.ImageSize}, {cfg.ImageSize}], the {pred} prediction.",
            GraphKind.Student => $"Guidance-distilled student U-Net ({m.Dataset}). Inputs: {io}, scale float [batch] (diffusers convention). "
              + $"Output: out float [batch, {cfg.InChannels}, {cfg.ImageSize}, {cfg.ImageSize}], its estimate of the guided {pred} prediction, in one pass.",
            _ => $"Class-conditional DDPM U-Net with classifier-free guidance ({m.Dataset}). Inputs: {io}, scale float [batch]. "
              + $"Output: out = uncond + scale * (cond - uncond) of the {pred} prediction (diffusers convention: scale 1 = conditional, 0 = unconditional; scale = 1 + w for (1 + w) cond - w uncond).",
        };
    }
}
