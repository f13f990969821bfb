using Diffusion.Export.Emitters;
using Diffusion.Onnx;
using TorchSharp.Modules;
using static Diffusion.Onnx.OnnxHelper;

namespace Diffusion.Judge.Export;

/// <summary>
/// BatchNorm2d in eval mode as BatchNormalization (inference form: running mean and variance, as torch.onnx
/// writes it): y = (x - running_mean) / sqrt(running_var + eps) * weight + bias, per channel.
/// </summary>
public sealed class BatchNorm2dEmitter : ModuleEmitter<BatchNorm2d>
{
    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, BatchNorm2d m, GraphValue[] inputs)
    {
        var x = inputs[0];
        if (m.training) throw new UnsupportedModuleException(s.DisplayPath, "BatchNorm2d must be in eval mode to export (call model.eval())");
        if (m.running_mean is null || m.running_var is null)
            throw new UnsupportedModuleException(s.DisplayPath, "BatchNorm2d without running statistics (track_running_stats = false) is not supported");
        long c = m.num_features;
        var weight = m.affine ? s.Parameter("weight") : s.Graph.Constant(Enumerable.Repeat(1f, (int)c).ToArray(), c);
        var bias = m.affine ? s.Parameter("bias") : s.Graph.Constant(new float[c], c);
        var mean = s.Buffer("running_mean");
        var var = s.Buffer("running_var");
        if (s.Module.named_buffers(recurse: false).Any(b => b.name == "num_batches_tracked")) s.SkipBuffer("num_batches_tracked"); // training-only counter
        return s.Graph.AddNode("BatchNormalization", [x, weight, bias, mean, var], [(x.Type, x.Shape)],
            MakeAttribute("epsilon", (float)m.eps), MakeAttribute("momentum", (float)(1 - (m.momentum ?? 0.1))));
    }
}

/// <summary>
/// <see cref="JudgeCnn"/>: mirrors <see cref="JudgeCnn.ForwardWithFeatures"/> op for op and returns
/// [logits [batch, K], features [batch, F]].
/// </summary>
public sealed class JudgeCnnEmitter : ModuleEmitter<JudgeCnn>
{
    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, JudgeCnn m, GraphValue[] inputs)
    {
        var g = s.Graph;
        GraphValue Block(GraphValue h, string conv, string bn) => g.Relu(s.Call1(bn, s.Call1(conv, h)));
        GraphValue Pool(GraphValue h) => g.MaxPool(h, [2, 2], [2, 2], [0, 0, 0, 0]);

        var h = Block(inputs[0], "conv1", "bn1");
        h = Pool(Block(h, "conv2", "bn2"));
        h = Block(h, "conv3", "bn3");
        h = Pool(Block(h, "conv4", "bn4"));
        var features = g.Relu(s.Call1("penultimate", g.Flatten(h, 1)));
        var logits = s.Call1("head", s.Call1("dropout", features));
        return [logits, features];
    }
}
