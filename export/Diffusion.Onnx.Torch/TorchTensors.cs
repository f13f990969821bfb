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

    /// <summary>The values of <paramref name="tensor"/> as float32, row-major.</summary>
    public static float[] ToFloatArray(torch.Tensor tensor)
    {
        using var scope = torch.NewDisposeScope();
        return tensor.detach().cpu().to_type(torch.ScalarType.Float32).contiguous().data<float>().ToArray();
    }
}
