using Diffusion.Onnx.Proto;
using static Diffusion.Onnx.OnnxHelper;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;

namespace Diffusion.Onnx.Tests;

public class HelperTests
{
    [Fact]
    public void MakeNode_sorts_attributes_by_name_and_rejects_duplicates()
    {
        var node = MakeNode("Conv", ["x", "w"], ["y"], "conv",
            MakeAttribute("strides", [1L, 1L]), MakeAttribute("group", 1L), MakeAttribute("pads", [0L, 0, 0, 0]), MakeAttribute("dilations", [1L, 1L]));
        Assert.Equal(["dilations", "group", "pads", "strides"], node.Attribute.Select(a => a.Name));
        Assert.Equal(AttributeProto.Types.AttributeType.Ints, node.Attribute[0].Type);
        Assert.Equal(AttributeProto.Types.AttributeType.Int, node.Attribute[1].Type);
        Assert.Throws<ArgumentException>(() => MakeNode("Add", ["a", "b"], ["c"], null, MakeAttribute("x", 1L), MakeAttribute("x", 2L)));
    }

    [Fact]
    public void Int_attribute_of_zero_keeps_its_presence_on_the_wire()
    {
        // proto2 like onnx.proto: an INT attribute equal to 0 is still written, so readers see exactly one value field.
        var a = MakeAttribute("keepdims", 0L);
        var back = AttributeProto.Parser.ParseFrom(Google.Protobuf.MessageExtensions.ToByteArray(a));
        Assert.True(back.HasI);
        Assert.Equal(0, back.I);
    }

    [Fact]
    public void MakeTensor_checks_the_element_count_and_round_trips_raw_data()
    {
        var t = MakeTensor("w", [1f, 2f, 3f, 4f, 5f, 6f], 2, 3);
        Assert.Equal([2L, 3L], t.Dims);
        Assert.Equal((int)DataType.Float, t.DataType);
        Assert.Equal(24, t.RawData.Length);
        Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f], ToFloatArray(t));
        Assert.Equal([7L, -1L], ToInt64Array(MakeTensor("s", [7L, -1L], 2)));
        Assert.Single(ToFloatArray(MakeTensor("scalar", [3f])));
        Assert.Throws<ArgumentException>(() => MakeTensor("bad", [1f, 2f, 3f], 2, 2));
    }

    [Fact]
    public void MakeRawTensor_keeps_type_dims_and_bytes_and_the_builder_adds_it_as_an_initializer()
    {
        sbyte[] w = [-127, 0, 5, 127];
        var t = MakeRawTensor("w_q", DataType.Int8, System.Runtime.InteropServices.MemoryMarshal.AsBytes(w.AsSpan()), 4, 2, 2);
        Assert.Equal((int)DataType.Int8, t.DataType);
        Assert.Equal([2L, 2L], t.Dims);
        Assert.Equal(new byte[] { 0x81, 0, 5, 0x7f }, t.RawData.ToByteArray());
        Assert.Throws<ArgumentException>(() => MakeRawTensor("bad", DataType.Int32, new byte[8], 2, 3));
        var g = new GraphBuilder();
        var v = g.Initializer(t);
        Assert.Equal(DataType.Int8, v.Type);
        Assert.Equal("w_q", v.Name);
        Assert.Throws<ArgumentException>(() => g.Initializer(MakeRawTensor("w_q", DataType.Int8, new byte[1], 1, 1)));
    }

    [Fact]
    public void MakeValueInfo_writes_named_dynamic_batch_and_fixed_dims()
    {
        var v = MakeValueInfo("x", DataType.Float, ["batch", 1, 28, 28]);
        var dims = v.Type.TensorType.Shape.Dim;
        Assert.Equal("batch", dims[0].DimParam);
        Assert.Equal(TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam, dims[0].ValueCase);
        Assert.Equal([1L, 28, 28], dims.Skip(1).Select(d => d.DimValue));
        Assert.Equal((int)DataType.Float, v.Type.TensorType.ElemType);
        Assert.Equal<Dim>(["batch", 1, 28, 28], ShapeOf(v));
        Assert.Equal(Dim.Symbol("batch", 2), ShapeOf(MakeValueInfo("z", DataType.Float, [Dim.Symbol("batch", 2)]))[0]);
    }

    [Theory]
    [InlineData(17, 8)]
    [InlineData(18, 8)]
    [InlineData(19, 9)]
    [InlineData(20, 9)]
    [InlineData(21, 10)]
    [InlineData(22, 10)]
    [InlineData(23, 11)]
    public void MakeModel_sets_the_ir_version_that_goes_with_the_opset(int opset, long ir)
    {
        var g = MakeGraph([], "g", [], []);
        var m = MakeModel(g, opset);
        Assert.Equal(ir, m.IrVersion);
        Assert.Equal(opset, m.OpsetImport.Single().Version);
        Assert.Equal("", m.OpsetImport[0].Domain);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(24)]
    [InlineData(0)]
    public void Unsupported_opsets_are_refused(int opset)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => OnnxOpset.IrVersion(opset));
        Assert.False(OnnxOpset.IsSupported(opset));
        Assert.Contains($"opset {opset} is not supported", e.Message);
        Assert.Contains(opset.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
    }

    [Fact]
    public void MakeModel_sorts_metadata_and_rejects_duplicate_keys()
    {
        var g = MakeGraph([], "g", [], []);
        var m = MakeModel(g, metadata: [new("b", "2"), new("a", "1"), new("c", "3")]);
        Assert.Equal(["a", "b", "c"], m.MetadataProps.Select(p => p.Key));
        Assert.Throws<ArgumentException>(() => MakeModel(g, metadata: [new("a", "1"), new("a", "2")]));
    }

    [Fact]
    public void Load_refuses_missing_and_non_onnx_files_naming_them()
    {
        string dir = Directory.CreateTempSubdirectory("onnx-load").FullName;
        try
        {
            string missing = Path.Combine(dir, "nope.onnx");
            Assert.Contains(missing, Assert.Throws<OnnxFormatException>(() => Load(missing)).Message);
            string junk = Path.Combine(dir, "junk.onnx");
            File.WriteAllBytes(junk, [0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
            Assert.Contains(junk, Assert.Throws<OnnxFormatException>(() => Load(junk)).Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
