using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Diffusion.Onnx.Proto;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;

namespace Diffusion.Onnx;

/// <summary>
/// Builds one ONNX graph in a deterministic order. It hands out unique value and node names (torch.onnx style:
/// node <c>down.0.res.0.conv1/Conv</c>, its output <c>down.0.res.0.conv1/Conv_output_0</c>), keeps
/// initializers, nodes and value infos in the order they were added, deduplicates small constants by content,
/// and tracks every value's element type and shape (the typed operators in <c>GraphBuilder.Ops.cs</c> compute
/// them), writing them as value_info so consumers and the FLOP counter see the shapes.
/// Building the same graph twice gives byte-identical models.
/// </summary>
public sealed partial class GraphBuilder
{
    private readonly List<NodeProto> nodes = [];
    private readonly List<TensorProto> initializers = [];
    private readonly List<ValueInfoProto> inputs = [];
    private readonly List<ValueInfoProto> outputs = [];
    private readonly List<GraphValue> produced = [];
    private readonly Dictionary<string, int> producer = new(StringComparer.Ordinal);   // value -> node index
    private readonly HashSet<string> valueNames = new(StringComparer.Ordinal);
    private readonly HashSet<string> nodeNames = new(StringComparer.Ordinal);
    private readonly HashSet<string> consumed = new(StringComparer.Ordinal);
    private readonly HashSet<string> outputNames = new(StringComparer.Ordinal);
    private readonly Dictionary<string, GraphValue> constants = new(StringComparer.Ordinal);
    private readonly Stack<string> scopes = new();

    /// <summary>Creates an empty graph for <paramref name="opset"/> (operators are written in that opset's form).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Unsupported opset.</exception>
    public GraphBuilder(int opset = OnnxOpset.Default) => Opset = OnnxOpset.Validate(opset);

    /// <summary>Opset of the default ONNX domain this graph targets.</summary>
    public int Opset { get; }

    /// <summary>Write value_info (type and shape) for every intermediate value (default true).</summary>
    public bool WriteValueInfo { get; set; } = true;

    /// <summary>Name prefix of nodes added now (a module path such as "down.0.res.1"); "" at the top.</summary>
    public string Scope => scopes.Count == 0 ? "" : scopes.Peek();

    /// <summary>Nodes added so far, in order.</summary>
    public IReadOnlyList<NodeProto> Nodes => nodes;

    /// <summary>Initializers added so far, in order.</summary>
    public IReadOnlyList<TensorProto> Initializers => initializers;

    /// <summary>Sets <see cref="Scope"/> until the returned object is disposed.</summary>
    public IDisposable PushScope(string scope)
    {
        scopes.Push(scope);
        return new PopScope(this);
    }

    private sealed class PopScope(GraphBuilder g) : IDisposable
    {
        private bool done;
        public void Dispose() { if (!done) { g.scopes.Pop(); done = true; } }
    }

    /// <summary><paramref name="prefix"/> if no value has that name yet, else prefix_1, prefix_2, ... (the first free one).</summary>
    public string UniqueName(string prefix) => Unique(valueNames, prefix);

    private static string Unique(HashSet<string> taken, string prefix)
    {
        if (!taken.Contains(prefix)) return prefix;
        for (int i = 1; ; i++)
        {
            string n = $"{prefix}_{i}";
            if (!taken.Contains(n)) return n;
        }
    }

    private void Claim(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!valueNames.Add(name)) throw new ArgumentException($"Graph value name '{name}' is already used.", nameof(name));
    }

    /// <summary>Declares a graph input, e.g. <c>Input("x", DataType.Float, "batch", 1, 28, 28)</c>.</summary>
    public GraphValue Input(string name, DataType type, params Dim[] shape)
    {
        Claim(name);
        inputs.Add(OnnxHelper.MakeValueInfo(name, type, shape));
        return new GraphValue(name, type, shape);
    }

    /// <summary>Adds a float32 initializer named <paramref name="name"/> (names must be unique; parameters use their state_dict key).</summary>
    public GraphValue Initializer(string name, ReadOnlySpan<float> data, params long[] dims)
        => AddInitializer(OnnxHelper.MakeTensor(name, data, dims), DataType.Float);

    /// <summary>Adds an int64 initializer named <paramref name="name"/>.</summary>
    public GraphValue Initializer(string name, ReadOnlySpan<long> data, params long[] dims)
        => AddInitializer(OnnxHelper.MakeTensor(name, data, dims), DataType.Int64);

    /// <summary>Adds an initializer of any element type (<see cref="OnnxHelper.MakeRawTensor"/>); its name must be unique.</summary>
    public GraphValue Initializer(TensorProto tensor) => AddInitializer(tensor, (DataType)tensor.DataType);

    private GraphValue AddInitializer(TensorProto t, DataType type)
    {
        Claim(t.Name);
        initializers.Add(t);
        return new GraphValue(t.Name, type, t.Dims.Select(Dim.Of).ToArray());
    }

    /// <summary>A float32 constant, shared with any earlier constant of identical type, shape and bytes.</summary>
    public GraphValue Constant(float[] data, params long[] dims) => SharedConstant(OnnxHelper.MakeTensor("", data, dims), DataType.Float);

    /// <summary>An int64 constant, shared with any earlier constant of identical type, shape and bytes.</summary>
    public GraphValue Constant(long[] data, params long[] dims) => SharedConstant(OnnxHelper.MakeTensor("", data, dims), DataType.Int64);

    /// <summary>A rank-0 float32 constant.</summary>
    public GraphValue Scalar(float value) => Constant([value]);

    /// <summary>A rank-0 int64 constant.</summary>
    public GraphValue Scalar(long value) => Constant([value]);

    private GraphValue SharedConstant(TensorProto t, DataType type)
    {
        string key = $"{type}[{string.Join(",", t.Dims)}]{Convert.ToHexString(SHA256.HashData(t.RawData.Span))}";
        if (constants.TryGetValue(key, out var v)) return v;
        t.Name = UniqueName(Scope.Length == 0 ? "const" : $"{Scope}/const");
        v = AddInitializer(t, type);
        constants[key] = v;
        return v;
    }

    /// <summary>
    /// Adds a node with outputs of the given types and shapes; returns the output values. Use the typed operators
    /// (<see cref="Add"/>, <see cref="Conv"/>, ...) instead where one exists: they compute the output shape.
    /// </summary>
    /// <param name="opType">Operator in the default ONNX domain.</param>
    /// <param name="nodeInputs">Inputs; null for an omitted optional input (written as "").</param>
    /// <param name="nodeOutputs">Element type and shape of each output.</param>
    /// <param name="attributes">Attributes (sorted by name when written).</param>
    public GraphValue[] AddNode(string opType, IReadOnlyList<GraphValue?> nodeInputs,
        IReadOnlyList<(DataType Type, IReadOnlyList<Dim> Shape)> nodeOutputs, params AttributeProto[] attributes)
    {
        foreach (var i in nodeInputs)
        {
            if (i is null) continue;
            if (!valueNames.Contains(i.Name)) throw new ArgumentException($"{opType}: input '{i.Name}' is not a value of this graph.", nameof(nodeInputs));
            consumed.Add(i.Name);
        }
        string nodeName = Unique(nodeNames, Scope.Length == 0 ? opType : $"{Scope}/{opType}");
        nodeNames.Add(nodeName);
        var outs = new GraphValue[nodeOutputs.Count];
        for (int k = 0; k < outs.Length; k++)
        {
            string name = UniqueName($"{nodeName}_output_{k}");
            Claim(name);
            outs[k] = new GraphValue(name, nodeOutputs[k].Type, nodeOutputs[k].Shape.ToArray());
            producer[name] = nodes.Count;
            produced.Add(outs[k]);
        }
        nodes.Add(OnnxHelper.MakeNode(opType, nodeInputs.Select(i => i?.Name ?? ""), outs.Select(o => o.Name), nodeName, attributes));
        return outs;
    }

    /// <summary>
    /// Declares <paramref name="value"/> a graph output named <paramref name="name"/>. A node output that nothing
    /// reads yet is renamed in place; otherwise an Identity node copies it. Returns the output value.
    /// </summary>
    public GraphValue Output(GraphValue value, string name)
    {
        if (!valueNames.Contains(value.Name)) throw new ArgumentException($"Output: '{value.Name}' is not a value of this graph.", nameof(value));
        if (value.Name != name)
        {
            if (producer.TryGetValue(value.Name, out int idx) && !consumed.Contains(value.Name) && !outputNames.Contains(value.Name))
            {
                Claim(name);
                var node = nodes[idx];
                node.Output[node.Output.IndexOf(value.Name)] = name;
                valueNames.Remove(value.Name);
                producer.Remove(value.Name);
                producer[name] = idx;
                int k = produced.FindIndex(v => v.Name == value.Name);
                value = value with { Name = name };
                produced[k] = value;
            }
            else
            {
                var copy = AddNode("Identity", [value], [(value.Type, value.Shape)])[0];
                return Output(copy, name);
            }
        }
        outputNames.Add(value.Name);
        outputs.Add(OnnxHelper.MakeValueInfo(value.Name, value.Type, value.Shape));
        return value;
    }

    /// <summary>The graph: nodes, inputs, outputs, initializers and (when <see cref="WriteValueInfo"/>) intermediate value infos.</summary>
    public GraphProto BuildGraph(string name, string? docString = null)
    {
        if (outputs.Count == 0) throw new InvalidOperationException($"Graph '{name}' has no outputs.");
        var infos = WriteValueInfo
            ? produced.Where(v => !outputNames.Contains(v.Name)).Select(v => OnnxHelper.MakeValueInfo(v.Name, v.Type, v.Shape))
            : null;
        return OnnxHelper.MakeGraph(nodes.Select(n => n.Clone()), name, inputs.Select(i => i.Clone()), outputs.Select(o => o.Clone()),
            initializers.Select(t => t.Clone()), infos, docString);
    }

    /// <summary>The model around <see cref="BuildGraph"/> (see <see cref="OnnxHelper.MakeModel"/>).</summary>
    public ModelProto BuildModel(string graphName, IEnumerable<KeyValuePair<string, string>>? metadata = null,
        string producerName = OnnxHelper.DefaultProducer, string producerVersion = OnnxHelper.ProducerVersion, string? docString = null)
        => OnnxHelper.MakeModel(BuildGraph(graphName), Opset, metadata, producerName, producerVersion, docString);

    /// <summary>Float values of an initializer added to this graph (for tests and tools).</summary>
    public float[] InitializerData(GraphValue value)
    {
        var t = initializers.FirstOrDefault(i => i.Name == value.Name) ?? throw new ArgumentException($"'{value.Name}' is not an initializer.", nameof(value));
        return MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray();
    }
}
