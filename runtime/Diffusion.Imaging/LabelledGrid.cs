using Diffusion.Runtime;
using SkiaSharp;
using Diffusion.Tools;

namespace Diffusion.Imaging;

/// <summary>A labelled column group of a <see cref="LabelledGrid"/>: <paramref name="Label"/> spans <paramref name="Columns"/> image columns.</summary>
/// <param name="Label">Text above the group.</param>
/// <param name="Columns">Image columns the group covers.</param>
public sealed record ColumnGroup(string Label, int Columns);

/// <summary>
/// A <see cref="PngGrid"/> with text: a label left of every row and a label above every group of columns (SkiaSharp,
/// system sans-serif font), e.g. rows = training runs and columns = guidance scales.
/// </summary>
public static class LabelledGrid
{
    /// <summary>
    /// Encodes <paramref name="rowLabels"/>.Count rows of images ([rows * cols, H, W] model space, row-major grid
    /// order, as <see cref="PngGrid.Encode"/>) with the labels, as PNG bytes.
    /// </summary>
    /// <param name="images">Images in grid order.</param>
    /// <param name="rowLabels">One label per row.</param>
    /// <param name="columns">Column groups, left to right; their spans add up to the grid's columns.</param>
    /// <param name="height">Image height H.</param>
    /// <param name="width">Image width W.</param>
    /// <param name="title">Optional line above everything.</param>
    /// <param name="scale">Nearest-neighbour upscaling of the images.</param>
    /// <exception cref="ArgumentException">No rows or columns.</exception>
    public static byte[] Encode(ReadOnlySpan<float> images, IReadOnlyList<string> rowLabels, IReadOnlyList<ColumnGroup> columns,
        int height, int width, string? title = null, int scale = 2)
    {
        int rows = rowLabels.Count, cols = columns.Sum(c => c.Columns);
        if (rows < 1 || cols < 1 || columns.Any(c => c.Columns < 1)) throw new ArgumentException("A labelled grid needs at least one row and one column per group.");
        const int pad = 2, gap = 8;
        using var gridBitmap = SKBitmap.Decode(PngGrid.Encode(images, rows, cols, height, width, pad, scale));
        using var typeface = SKTypeface.FromFamilyName("DejaVu Sans") ?? SKTypeface.Default;
        using var font = new SKFont(typeface, 13);
        using var titleFont = new SKFont(typeface, 15) { Embolden = true };
        using var paint = new SKPaint { Color = SKColors.Black, IsAntialias = true };

        float labelWidth = rowLabels.Max(l => font.MeasureText(l)) + 2 * gap;
        float lineHeight = font.Spacing, titleHeight = title is null ? 0 : titleFont.Spacing + gap;
        int left = (int)Math.Ceiling(labelWidth), top = (int)Math.Ceiling(titleHeight + lineHeight + gap);
        int canvasWidth = Math.Max(left + gridBitmap.Width + gap, title is null ? 0 : (int)Math.Ceiling(titleFont.MeasureText(title)) + 2 * gap);
        var info = new SKImageInfo(canvasWidth, top + gridBitmap.Height + gap, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var surface = SKSurface.Create(info);
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        canvas.DrawBitmap(gridBitmap, left, top);
        if (title is not null) canvas.DrawText(title, gap, titleFont.Spacing, SKTextAlign.Left, titleFont, paint);

        int cell = (height + pad) * scale, cellW = (width + pad) * scale;
        for (int r = 0; r < rows; r++)
        {
            float y = top + pad * scale + r * cell + height * scale / 2f + font.Size / 3f;
            canvas.DrawText(rowLabels[r], left - gap, y, SKTextAlign.Right, font, paint);
        }
        int first = 0;
        using var line = new SKPaint { Color = SKColors.Gray, StrokeWidth = 1, IsAntialias = false };
        foreach (var group in columns)
        {
            float x0 = left + pad * scale + first * cellW, x1 = left + (first + group.Columns) * cellW;
            canvas.DrawText(group.Label, (x0 + x1) / 2, top - gap, SKTextAlign.Center, font, paint);
            canvas.DrawLine(x0, top - gap / 2f, x1 - pad * scale, top - gap / 2f, line);
            first += group.Columns;
        }
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>Writes a labelled grid PNG atomically; see <see cref="Encode"/>.</summary>
    public static void Write(string path, ReadOnlySpan<float> images, IReadOnlyList<string> rowLabels, IReadOnlyList<ColumnGroup> columns,
        int height, int width, string? title = null, int scale = 2)
        => AtomicFile.WriteAllBytes(path, Encode(images, rowLabels, columns, height, width, title, scale));
}
