using Diffusion.Onnx;
using Diffusion.Onnx.Proto;
using TorchSharp;

namespace Diffusion.Onnx.Torch;

/// <summary>TorchSharp tensors to ONNX tensors (the onnx.helper <c>make_tensor</c> step for a torch tensor).</summary>
public static class TorchTensors
{
    /// <summary>
    /// An ONNX initializer holding <paramref name="tensor"/>'s values (detached, on the CPU, row-major): float32
    /// for floating-point tensors (float64 and float16 are converted), int64 for integer tensors.
    /// </summary>
    /// <param name="name">Initializer name.</param>
    /// <param name="tensor">Any-shape tensor; it is not modified.</param>
    public static TensorProto MakeTensor(string name, torch.Tensor tensor)
    {
        using var scope = torch.NewDisposeScope();
        var t = tensor.detach().cpu();
        return t.is_floating_point()
            ? OnnxHelper.MakeTensor(name, t.to_type(torch.ScalarType.Float32).contiguous().data<float>().ToArray(), t.shape)
            : OnnxHelper.MakeTensor(name, t.to_type(torch.ScalarType.Int64).contiguous().data<long>().ToArray(), t.shape);
    }

    /// <summary>
    /// Copies a float32 graph's initializers into the same-named parameters and buffers of <paramref name="module"/>
    /// (the exporter names every weight after its state_dict key; trailing unit dimensions added for broadcasting are dropped): the inverse of the export, to rebuild a network from
    /// its graph. Every state_dict tensor must be there with the same shape.
    /// </summary>
    /// <param name="module">The network, built with the architecture the graph was exported from.</param>
    /// <param name="model">The ONNX model.</param>
    /// <param name="source">Names the graph in errors.</param>
    /// <exception cref="OnnxFormatException">A tensor missing, of another shape or not float32; the message names it.</exception>
    public static void LoadWeights(torch.nn.Module module, ModelProto model, string source)
    {
        var inits = model.Graph.Initializer.ToDictionary(i => i.Name, StringComparer.Ordinal);
        using var noGrad = torch.no_grad();
        foreach (var (name, t) in module.state_dict())
        {
            if (!inits.TryGetValue(name, out var init))
                throw new OnnxFormatException($"{source}: no initializer '{name}'; expected a float32 graph exported from this architecture.");
            // GroupNorm's affine weights are stored as [C, 1, 1] to broadcast over [N, C, H, W]
            var dims = init.Dims.ToList();
            while (dims.Count > t.shape.Length && dims[^1] == 1) dims.RemoveAt(dims.Count - 1);
            if (!dims.SequenceEqual(t.shape))
                throw new OnnxFormatException($"{source}: initializer '{name}' is [{string.Join(", ", init.Dims)}]; the network's is [{string.Join(", ", t.shape)}].");
            if (init.DataType != (int)TensorProto.Types.DataType.Float)
                throw new OnnxFormatException($"{source}: initializer '{name}' is {(TensorProto.Types.DataType)init.DataType}, not float32 (an int8 graph?).");
            using var values = torch.tensor(OnnxHelper.ToFloatArray(init), t.shape);
            t.copy_(values);
        }
    }

    /// <summary>The values of <paramref name="tensor"/> as float32, row-major.</summary>
    public static float[] ToFloatArray(torch.Tensor tensor)
    {
        using var scope = torch.NewDisposeScope();
        return tensor.detach().cpu().to_type(torch.ScalarType.Float32).contiguous().data<float>().ToArray();
    }
}
