using Diffusion.Onnx.Proto;

namespace Diffusion.Onnx;

/// <summary>A named value in a graph under construction (input, initializer or node output) with its element type and shape.</summary>
/// <param name="Name">Unique name in the graph.</param>
/// <param name="Type">Element type.</param>
/// <param name="Shape">Dimensions; <see cref="Dim.Unknown"/> where not known.</param>
public sealed record GraphValue(string Name, TensorProto.Types.DataType Type, IReadOnlyList<Dim> Shape)
{
    /// <summary>Number of dimensions.</summary>
    public int Rank => Shape.Count;

    /// <summary>Dimension <paramref name="axis"/>, negative axes counting from the end.</summary>
    public Dim this[int axis] => Shape[axis < 0 ? axis + Shape.Count : axis];

    /// <summary>"name: float[batch,1,28,28]".</summary>
    public override string ToString() => $"{Name}: {Type}[{string.Join(",", Shape)}]";
}
