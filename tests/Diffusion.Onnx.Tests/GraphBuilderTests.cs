using Diffusion.Onnx.Proto;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;

namespace Diffusion.Onnx.Tests;

public class GraphBuilderTests
{
    [Fact]
    public void Hands_out_unique_scoped_names()
    {
        var g = new GraphBuilder();
        var x = g.Input("x", DataType.Float, "batch", 4);
        GraphValue a, b, c;
        using (g.PushScope("block"))
        {
            a = g.Add(x, x);
            b = g.Add(a, x);
        }
        c = g.Add(b, x);
        Assert.Equal("block/Add_output_0", a.Name);
        Assert.Equal("block/Add_1_output_0", b.Name);
        Assert.Equal("Add_output_0", c.Name);
        Assert.Equal(["block/Add", "block/Add_1", "Add"], g.Nodes.Select(n => n.Name));
        Assert.Equal("x_1", g.UniqueName("x"));
        Assert.Throws<ArgumentException>(() => g.Input("x", DataType.Float, 1));
        g.Initializer("w", new float[] { 1 }, 1);
        Assert.Throws<ArgumentException>(() => g.Initializer("w", new float[] { 2 }, 1));
    }

    [Fact]
    public void Attributes_come_out_sorted_whatever_the_order_the_op_lists_them()
    {
        var g = new GraphBuilder();
        var x = g.Input("x", DataType.Float, "batch", 1, 8, 8);
        var up = g.ResizeNearest(x, 1, 1, 2, 2);
        var node = g.Nodes.Single();
        Assert.Equal(["coordinate_transformation_mode", "mode", "nearest_mode"], node.Attribute.Select(a => a.Name));
        Assert.Equal(["x", "", node.Input[2]], node.Input);   // roi omitted
        Assert.Equal<Dim>(["batch", 1, 16, 16], up.Shape);
    }

    [Fact]
    public void Constants_are_shared_by_content()
    {
        var g = new GraphBuilder();
        var a = g.Constant([1f, 2f], 2);
        var b = g.Constant([1f, 2f], 2);
        var c = g.Constant([1f, 2f], 1, 2);
        var d = g.Constant([1L, 2L], 2);
        Assert.Same(a, b);
        Assert.NotEqual(a.Name, c.Name);
        Assert.NotEqual(a.Name, d.Name);
        Assert.Equal(3, g.Initializers.Count);
    }

    [Fact]
    public void Tracks_symbolic_batch_through_concat_reshape_and_split()
    {
        var g = new GraphBuilder();
        var x = g.Input("x", DataType.Float, "batch", 64, 14, 14);
        var x2 = g.Concat(0, x, x);
        Assert.Equal<Dim>([Dim.Symbol("batch", 2), 64, 14, 14], x2.Shape);
        var grouped = g.Reshape(x2, 0, 8, -1);
        Assert.Equal<Dim>([Dim.Symbol("batch", 2), 8, 1568], grouped.Shape);
        var flat = g.Reshape(x2, -1, 64 * 14 * 14);
        Assert.Equal<Dim>([Dim.Symbol("batch", 2), 12544], flat.Shape);
        var halves = g.Split(x2, 0, 2);
        Assert.Equal<Dim>(["batch", 64, 14, 14], halves[0].Shape);
        var s = g.Input("s", DataType.Float, "batch");
        Assert.Equal<Dim>(["batch", 1, 1, 1], g.Reshape(s, -1, 1, 1, 1).Shape);
        Assert.Equal<Dim>(["batch", 1, 1, 1], g.Unsqueeze(s, 1, 2, 3).Shape);
        Assert.Equal<Dim>(["batch", 64, 14, 14], g.Mul(halves[1], g.Unsqueeze(s, 1, 2, 3)).Shape);
        Assert.Throws<ArgumentException>(() => g.Reshape(x, 0, 5, 5));
    }

    [Fact]
    public void Split_writes_num_outputs_from_opset_18()
    {
        foreach (var (opset, expected) in new[] { (17, new[] { "axis" }), (18, new[] { "axis", "num_outputs" }) })
        {
            var g = new GraphBuilder(opset);
            var x = g.Input("x", DataType.Float, "batch", 2);
            g.Split(x, 0, 2);
            Assert.Equal(expected, g.Nodes.Single().Attribute.Select(a => a.Name));
        }
    }

    [Fact]
    public void Output_renames_an_unread_node_output_and_copies_a_read_one()
    {
        var g = new GraphBuilder();
        var x = g.Input("x", DataType.Float, "batch", 3);
        var s = g.Sigmoid(x);
        var r = g.Relu(s);
        var o1 = g.Output(r, "out");
        var o2 = g.Output(s, "sig");       // s is read by Relu: copied through Identity
        Assert.Equal("out", o1.Name);
        Assert.Equal("sig", o2.Name);
        Assert.Equal(["Sigmoid", "Relu", "Identity"], g.Nodes.Select(n => n.OpType));
        Assert.Equal("out", g.Nodes[1].Output[0]);
        var model = g.BuildModel("g");
        Assert.Equal(["out", "sig"], model.Graph.Output.Select(o => o.Name));
        Assert.DoesNotContain(model.Graph.ValueInfo, v => v.Name == "out" || v.Name == "sig");
    }

    [Fact]
    public void Shape_errors_are_caught_while_building()
    {
        var g = new GraphBuilder();
        var x = g.Input("x", DataType.Float, "batch", 3, 8, 8);
        var w = g.Initializer("w", new float[4 * 2 * 3 * 3], 4, 2, 3, 3);
        Assert.Throws<ArgumentException>(() => g.Conv(x, w, null, [1, 1], [1, 1, 1, 1], [1, 1]));
        var a = g.Input("a", DataType.Float, 2, 3);
        var b = g.Input("b", DataType.Float, 4, 5);
        Assert.Throws<ArgumentException>(() => g.MatMul(a, b));
        Assert.Throws<ArgumentException>(() => g.Add(a, b));
        var i = g.Input("i", DataType.Int64, 2, 3);
        Assert.Throws<ArgumentException>(() => g.Add(a, i));
    }
}
