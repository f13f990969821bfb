using System.Runtime.InteropServices;
using System.Text;
using Diffusion.Onnx.Proto;
using Google.Protobuf;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;
using AttributeType = Diffusion.Onnx.Proto.AttributeProto.Types.AttributeType;

namespace Diffusion.Onnx;

/// <summary>
/// Builders for ONNX protobuf messages, shaped like Python's <c>onnx.helper</c> (make_node, make_tensor,
/// make_tensor_value_info, make_graph, make_model). Everything they produce is deterministic: attributes are
/// sorted by name and metadata by key, so the same inputs always serialize to the same bytes.
/// </summary>
public static class OnnxHelper
{
    /// <summary>Default producer name written to models.</summary>
    public const string DefaultProducer = "Diffusion.Onnx";
    /// <summary>Version of this builder, written as producer_version by default.</summary>
    public const string ProducerVersion = "1.0";

    /// <summary>A node; attributes are sorted by name (ONNX ignores their order, files stay byte-stable).</summary>
    /// <param name="opType">Operator, e.g. "Conv".</param>
    /// <param name="inputs">Input value names ("" for an omitted optional input).</param>
    /// <param name="outputs">Output value names.</param>
    /// <param name="name">Node name (optional, unique in the graph when given).</param>
    /// <param name="attributes">Attributes from <see cref="MakeAttribute(string, long)"/> and its overloads.</param>
    /// <exception cref="ArgumentException">Two attributes share a name.</exception>
    public static NodeProto MakeNode(string opType, IEnumerable<string> inputs, IEnumerable<string> outputs,
        string? name = null, params AttributeProto[] attributes)
    {
        ArgumentException.ThrowIfNullOrEmpty(opType);
        var node = new NodeProto { OpType = opType };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        if (name is not null) node.Name = name;
        var sorted = attributes.OrderBy(a => a.Name, StringComparer.Ordinal).ToArray();
        for (int i = 1; i < sorted.Length; i++)
            if (sorted[i].Name == sorted[i - 1].Name)
                throw new ArgumentException($"Node {name ?? opType}: attribute '{sorted[i].Name}' given twice.", nameof(attributes));
        node.Attribute.AddRange(sorted);
        return node;
    }

    /// <summary>INT attribute.</summary>
    public static AttributeProto MakeAttribute(string name, long value) => new() { Name = name, Type = AttributeType.Int, I = value };

    /// <summary>FLOAT attribute.</summary>
    public static AttributeProto MakeAttribute(string name, float value) => new() { Name = name, Type = AttributeType.Float, F = value };

    /// <summary>STRING attribute (UTF-8).</summary>
    public static AttributeProto MakeAttribute(string name, string value)
        => new() { Name = name, Type = AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    /// <summary>INTS attribute.</summary>
    public static AttributeProto MakeAttribute(string name, IEnumerable<long> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    /// <summary>FLOATS attribute.</summary>
    public static AttributeProto MakeAttribute(string name, IEnumerable<float> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeType.Floats };
        a.Floats.AddRange(values);
        return a;
    }

    /// <summary>TENSOR attribute (e.g. ConstantOfShape's value).</summary>
    public static AttributeProto MakeAttribute(string name, TensorProto value) => new() { Name = name, Type = AttributeType.Tensor, T = value };

    /// <summary>A float32 tensor stored as little-endian raw_data.</summary>
    /// <param name="name">Tensor (initializer) name.</param>
    /// <param name="data">Row-major values; length = product of <paramref name="dims"/> (1 for a scalar).</param>
    /// <param name="dims">Shape; empty for a scalar.</param>
    public static TensorProto MakeTensor(string name, ReadOnlySpan<float> data, params long[] dims)
        => Raw(name, DataType.Float, MemoryMarshal.AsBytes(data), data.Length, dims);

    /// <summary>An int64 tensor stored as little-endian raw_data.</summary>
    /// <inheritdoc cref="MakeTensor(string, ReadOnlySpan{float}, long[])"/>
    public static TensorProto MakeTensor(string name, ReadOnlySpan<long> data, params long[] dims)
        => Raw(name, DataType.Int64, MemoryMarshal.AsBytes(data), data.Length, dims);

    /// <summary>A float32 tensor (array overload, so collection expressions pick the element type).</summary>
    /// <inheritdoc cref="MakeTensor(string, ReadOnlySpan{float}, long[])"/>
    public static TensorProto MakeTensor(string name, float[] data, params long[] dims) => MakeTensor(name, data.AsSpan(), dims);

    /// <summary>An int64 tensor (array overload).</summary>
    /// <inheritdoc cref="MakeTensor(string, ReadOnlySpan{float}, long[])"/>
    public static TensorProto MakeTensor(string name, long[] data, params long[] dims) => MakeTensor(name, data.AsSpan(), dims);

    /// <summary>A tensor of any element type from its little-endian bytes (e.g. int8 weights, int32 biases of a quantized graph).</summary>
    /// <param name="name">Tensor (initializer) name.</param>
    /// <param name="type">Element type.</param>
    /// <param name="bytes">Row-major values, little-endian.</param>
    /// <param name="count">Number of elements; must equal the product of <paramref name="dims"/>.</param>
    /// <param name="dims">Shape; empty for a scalar.</param>
    public static TensorProto MakeRawTensor(string name, DataType type, ReadOnlySpan<byte> bytes, int count, params long[] dims)
        => Raw(name, type, bytes, count, dims);

    private static TensorProto Raw(string name, DataType type, ReadOnlySpan<byte> bytes, int count, long[] dims)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw_data is little-endian; big-endian hosts are not supported.");
        long expected = 1;
        foreach (long d in dims)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(d, nameof(dims));
            expected *= d;
        }
        if (expected != count)
            throw new ArgumentException($"Tensor '{name}': {count} values for dims [{string.Join(",", dims)}] (expected {expected}).", nameof(dims));
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return t;
    }

    /// <summary>Reads a float32 tensor's values (raw_data or float_data).</summary>
    public static float[] ToFloatArray(TensorProto tensor)
    {
        if (tensor.DataType != (int)DataType.Float) throw new ArgumentException($"Tensor '{tensor.Name}' is {(DataType)tensor.DataType}, not float.", nameof(tensor));
        return tensor.HasRawData ? MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray() : tensor.FloatData.ToArray();
    }

    /// <summary>Reads an int64 tensor's values (raw_data or int64_data).</summary>
    public static long[] ToInt64Array(TensorProto tensor)
    {
        if (tensor.DataType != (int)DataType.Int64) throw new ArgumentException($"Tensor '{tensor.Name}' is {(DataType)tensor.DataType}, not int64.", nameof(tensor));
        return tensor.HasRawData ? MemoryMarshal.Cast<byte, long>(tensor.RawData.Span).ToArray() : tensor.Int64Data.ToArray();
    }

    /// <summary>
    /// A tensor value info: name, element type and shape, where each dimension is a number or a symbolic name
    /// (<c>MakeValueInfo("x", DataType.Float, ["batch", 1, 28, 28])</c>).
    /// </summary>
    public static ValueInfoProto MakeValueInfo(string name, DataType elemType, IReadOnlyList<Dim> dims)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            var dim = new TensorShapeProto.Types.Dimension();
            if (d.IsFixed) dim.DimValue = d.Coefficient;
            else if (d.IsKnown) dim.DimParam = d.ToString();
            shape.Dim.Add(dim);
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)elemType, Shape = shape } },
        };
    }

    /// <summary>Reads back the dimensions of a tensor value info (dim_param parsed by <see cref="Dim.ParseParam"/>).</summary>
    public static Dim[] ShapeOf(ValueInfoProto info)
        => info.Type?.TensorType?.Shape is { } s
            ? s.Dim.Select(d => d.ValueCase switch
            {
                TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue => Dim.Of(d.DimValue),
                TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam => Dim.ParseParam(d.DimParam),
                _ => Dim.Unknown,
            }).ToArray()
            : [];

    /// <summary>A graph: nodes (topologically sorted), inputs, outputs, initializers and optional value infos.</summary>
    public static GraphProto MakeGraph(IEnumerable<NodeProto> nodes, string name, IEnumerable<ValueInfoProto> inputs,
        IEnumerable<ValueInfoProto> outputs, IEnumerable<TensorProto>? initializers = null,
        IEnumerable<ValueInfoProto>? valueInfo = null, string? docString = null)
    {
        var g = new GraphProto { Name = name };
        g.Node.AddRange(nodes);
        g.Input.AddRange(inputs);
        g.Output.AddRange(outputs);
        if (initializers is not null) g.Initializer.AddRange(initializers);
        if (valueInfo is not null) g.ValueInfo.AddRange(valueInfo);
        if (docString is not null) g.DocString = docString;
        return g;
    }

    /// <summary>
    /// A model importing the default ONNX domain at <paramref name="opset"/>, with the IR version that opset
    /// requires (<see cref="OnnxOpset.IrVersion"/>) and metadata_props sorted by key.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Unsupported opset.</exception>
    /// <exception cref="ArgumentException">A metadata key appears twice.</exception>
    public static ModelProto MakeModel(GraphProto graph, int opset = OnnxOpset.Default,
        IEnumerable<KeyValuePair<string, string>>? metadata = null, string producerName = DefaultProducer,
        string producerVersion = ProducerVersion, string? docString = null)
    {
        var model = new ModelProto
        {
            IrVersion = OnnxOpset.IrVersion(opset),
            ProducerName = producerName,
            ProducerVersion = producerVersion,
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        if (docString is not null) model.DocString = docString;
        if (metadata is not null)
        {
            var sorted = metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray();
            for (int i = 1; i < sorted.Length; i++)
                if (sorted[i].Key == sorted[i - 1].Key) throw new ArgumentException($"Metadata key '{sorted[i].Key}' given twice.", nameof(metadata));
            model.MetadataProps.AddRange(sorted.Select(kv => new StringStringEntryProto { Key = kv.Key, Value = kv.Value }));
        }
        return model;
    }

    /// <summary>The model's metadata_props as a dictionary.</summary>
    public static Dictionary<string, string> Metadata(ModelProto model)
        => model.MetadataProps.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);

    /// <summary>Serializes <paramref name="model"/> to protobuf bytes (deterministic for a given message).</summary>
    public static byte[] Serialize(ModelProto model) => model.ToByteArray();

    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> whole or not at all (a temporary file beside it, then a rename).</summary>
    public static void Save(ModelProto model, string path)
    {
        string full = Path.GetFullPath(path), tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try { using (var fs = File.Create(tmp)) model.WriteTo(fs); File.Move(tmp, full, overwrite: true); }
        finally { if (File.Exists(tmp)) File.Delete(tmp); }
    }

    /// <summary>Reads a model file.</summary>
    /// <exception cref="OnnxFormatException">Missing file or not an ONNX protobuf; the message names the file.</exception>
    public static ModelProto Load(string path)
    {
        if (!File.Exists(path)) throw new OnnxFormatException($"{path}: file not found; expected an ONNX model.");
        try
        {
            using var fs = File.OpenRead(path);
            var m = ModelProto.Parser.ParseFrom(fs);
            if (m.Graph is null || m.OpsetImport.Count == 0)
                throw new OnnxFormatException($"{path}: not an ONNX model (no graph or opset_import).");
            return m;
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new OnnxFormatException($"{path}: not a valid ONNX model ({e.Message}).", e);
        }
    }

    /// <summary>UTF-8 text of a STRING attribute.</summary>
    public static string StringOf(AttributeProto attribute) => Encoding.UTF8.GetString(attribute.S.Span);
}
