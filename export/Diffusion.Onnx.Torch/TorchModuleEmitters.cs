using Diffusion.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static Diffusion.Onnx.OnnxHelper;

namespace Diffusion.Onnx.Torch;

/// <summary>Conv2d as Conv (zero padding; pads written [top, left, bottom, right]).</summary>
public sealed class Conv2dEmitter : ModuleEmitter<Conv2d>
{
    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, Conv2d m, GraphValue[] inputs)
    {
        if (m.transposed) throw new UnsupportedModuleException(s.DisplayPath, "transposed convolution is not supported");
        if (m.padding_mode != PaddingModes.Zeros) throw new UnsupportedModuleException(s.DisplayPath, $"padding mode {m.padding_mode} is not supported (only zeros)");
        long[] k = m.kernel_size, d = m.dilation;
        long[] pad = m.padding_type switch
        {
            null => m.padding ?? [0, 0],
            Padding.Valid => [0, 0],
            // torch's 'same': the total d*(k-1) split with the extra element at the end
            Padding.Same => [d[0] * (k[0] - 1) / 2, d[1] * (k[1] - 1) / 2],
            var p => throw new UnsupportedModuleException(s.DisplayPath, $"padding {p} is not supported"),
        };
        long[] pads = m.padding_type == Padding.Same
            ? [pad[0], pad[1], d[0] * (k[0] - 1) - pad[0], d[1] * (k[1] - 1) - pad[1]]
            : [pad[0], pad[1], pad[0], pad[1]];
        var w = s.Parameter("weight");
        var b = s.HasParameter("bias") ? s.Parameter("bias") : null;
        return [s.Graph.Conv(inputs[0], w, b, m.stride, pads, d, m.groups)];
    }
}

/// <summary>Linear as Gemm(x, W, b, transB = 1) for [N, in] inputs (torch.onnx's form), else MatMul by W^T then Add.</summary>
public sealed class LinearEmitter : ModuleEmitter<Linear>
{
    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, Linear m, GraphValue[] inputs)
    {
        var x = inputs[0];
        var w = s.Parameter("weight");
        var b = s.HasParameter("bias") ? s.Parameter("bias") : null;
        if (x.Rank == 2) return [s.Graph.Gemm(x, w, b, transB: true)];
        var y = s.Graph.MatMul(x, s.Graph.Transpose(w, 1, 0));
        return [b is null ? y : s.Graph.Add(y, b)];
    }
}

/// <summary>
/// GroupNorm exactly as torch.onnx writes it at opset 17: Reshape [N, C, H, W] to [N, G, -1],
/// InstanceNormalization with unit scale and zero bias (the same mean and biased variance per group), Reshape
/// back, then Mul by the weight and Add the bias, both stored as [C, 1, 1].
/// </summary>
public sealed class GroupNormEmitter : ModuleEmitter<GroupNorm>
{
    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, GroupNorm m, GraphValue[] inputs)
    {
        var g = s.Graph;
        var x = inputs[0];
        if (x.Shape.Skip(1).Any(d => !d.IsFixed))
            throw new UnsupportedModuleException(s.DisplayPath, $"GroupNorm needs fixed channel and spatial sizes, got {x}");
        long groups = m.num_groups, c = x[1].Size;
        if (c % groups != 0) throw new UnsupportedModuleException(s.DisplayPath, $"{c} channels are not divisible into {groups} groups");
        var grouped = g.Reshape(x, 0, groups, -1);
        var normed = g.InstanceNormalization(grouped, g.Constant(Enumerable.Repeat(1f, (int)groups).ToArray(), groups),
            g.Constant(new float[groups], groups), (float)m.eps);
        var h = g.Reshape(normed, [0, .. x.Shape.Skip(1).Select(d => d.Size)]);
        if (!m.affine) return [h];
        long[] perChannel = [c, .. Enumerable.Repeat(1L, x.Rank - 2)];
        h = g.Mul(h, s.Parameter("weight", perChannel));
        return [g.Add(h, s.Parameter("bias", perChannel))];
    }
}

/// <summary>Embedding as Gather(weight, indices, axis = 0).</summary>
public sealed class EmbeddingEmitter : ModuleEmitter<Embedding>
{
    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, Embedding m, GraphValue[] inputs)
        => [s.Graph.Gather(s.Parameter("weight"), inputs[0], axis: 0)];
}

/// <summary>SiLU as x * Sigmoid(x).</summary>
public sealed class SiLUEmitter : ModuleEmitter<SiLU>
{
    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, SiLU m, GraphValue[] inputs) => [s.Graph.Silu(inputs[0])];
}

/// <summary>Dropout is the identity at inference (eval mode): no node.</summary>
public sealed class DropoutEmitter : ModuleEmitter<Dropout>
{
    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, Dropout m, GraphValue[] inputs) => inputs;
}

/// <summary>Sequential: its children in order, each fed the previous output.</summary>
public sealed class SequentialEmitter : ModuleEmitter<Sequential>
{
    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, Sequential m, GraphValue[] inputs)
    {
        var h = inputs;
        foreach (var (_, child) in m.named_children()) h = s.Call(child, h);
        return h;
    }
}

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
