using Diffusion.Runtime;

namespace Diffusion.Eval.Judges;

/// <summary>
/// The judges of one dataset, loaded from a folder holding <c>judge.json</c> (the card), the ML.NET CNN judge
/// (main) and, when built, the LightGBM judge. Every file is checked against the card's SHA-256.
/// </summary>
public sealed class JudgeSet : IDisposable
{
    /// <summary>Folder the judges were loaded from.</summary>
    public string Folder { get; }
    /// <summary>The card.</summary>
    public JudgeCard Card { get; }
    /// <summary>The main judge: the CNN through ML.NET's OnnxTransformer.</summary>
    public OnnxCnnJudge Cnn { get; }
    /// <summary>The second judge (LightGBM on pixels), or null when it was not built.</summary>
    public LightGbmJudge? LightGbm { get; }

    private JudgeSet(string folder, JudgeCard card, OnnxCnnJudge cnn, LightGbmJudge? lgbm)
    {
        Folder = folder; Card = card; Cnn = cnn; LightGbm = lgbm;
    }

    /// <summary>Loads the judges in <paramref name="folder"/>.</summary>
    /// <param name="folder">Folder with judge.json and the files it names.</param>
    /// <param name="requireLightGbm">Fail when the LightGBM judge is missing (otherwise it is skipped).</param>
    /// <exception cref="InvalidInputException">Missing card or file, hash mismatch, or a judge that contradicts the card.</exception>
    public static JudgeSet Load(string folder, bool requireLightGbm = false)
    {
        var (card, cardPath, zip, lgbmPath) = ReadCard(folder, requireLightGbm);
        var cnn = OnnxCnnJudge.Load(zip);
        LightGbmJudge? lgbm = null;
        try
        {
            if (cnn.NumClasses != card.NumClasses || cnn.FeatureDim != card.FeatureDim || cnn.Channels != card.ImageShape[0] || cnn.Height != card.ImageShape[1] || cnn.Width != card.ImageShape[2])
                throw new InvalidInputException($"{zip}: judge has {cnn.NumClasses} classes, F = {cnn.FeatureDim}, [{cnn.Channels},{cnn.Height},{cnn.Width}] images; {cardPath} says {card.NumClasses}, {card.FeatureDim}, [{string.Join(",", card.ImageShape)}].");
            if (lgbmPath is not null)
            {
                lgbm = LightGbmJudge.Load(lgbmPath);
                if (lgbm.NumClasses != card.NumClasses)
                    throw new InvalidInputException($"{lgbmPath}: LightGBM judge has {lgbm.NumClasses} classes; {cardPath} says {card.NumClasses}.");
            }
            return new JudgeSet(folder, card, cnn, lgbm);
        }
        catch
        {
            cnn.Dispose();
            lgbm?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads the card of <paramref name="folder"/> and checks the judge files it names (inside the folder, present,
    /// with the hashes it states): the part of <see cref="Load"/> that reads what a user may have edited.
    /// </summary>
    /// <returns>The card, its path, the ML.NET judge and the LightGBM judge (null when absent and not required).</returns>
    /// <exception cref="InvalidInputException">Missing folder, card or file, a name outside the folder, or a hash mismatch.</exception>
    public static (JudgeCard Card, string CardPath, string MlNet, string? LightGbm) ReadCard(string folder, bool requireLightGbm = false)
    {
        if (!Directory.Exists(folder)) throw new InvalidInputException($"Judge folder not found: {folder} (build the judges with 'make judges').");
        string cardPath = Path.Combine(folder, ModelFolderLayout.JudgeCard);
        var card = JudgeCard.Load(cardPath);
        if (card.MlNet is null) throw new InvalidInputException($"{cardPath} names no ML.NET judge; rebuild with 'make judges'.");
        string zip = JudgeCard.Resolve(card.MlNet, folder, cardPath);
        if (!File.Exists(zip)) throw new InvalidInputException($"ML.NET judge not found: {zip} (named by {cardPath}).");
        JudgeCard.Verify(card.MlNet, zip, cardPath);
        string? lgbmPath = card.LightGbm is null ? null : JudgeCard.Resolve(card.LightGbm, folder, cardPath);
        if (lgbmPath is not null && File.Exists(lgbmPath)) JudgeCard.Verify(card.LightGbm, lgbmPath, cardPath);
        else if (requireLightGbm)
            throw new InvalidInputException($"LightGBM judge not found in {folder} ({cardPath} names {card.LightGbm?.File ?? "none"}); build it with 'make judges'.");
        else lgbmPath = null;
        return (card, cardPath, zip, lgbmPath);
    }

    /// <summary>Checks that these judges suit a diffusion model (same dataset, classes and image shape).</summary>
    /// <exception cref="InvalidInputException">The model is foreign to the judges.</exception>
    public void CheckModel(ModelMetadata model, string modelPath)
    {
        if (!string.Equals(model.Dataset, Card.Dataset, StringComparison.OrdinalIgnoreCase))
            throw new InvalidInputException($"{modelPath} is a '{model.Dataset}' model but the judges in {Folder} judge '{Card.Dataset}'; pass --judges with the matching folder.");
        if (model.NumClasses != Card.NumClasses || model.Channels != Card.ImageShape[0] || model.Height != Card.ImageShape[1] || model.Width != Card.ImageShape[2])
            throw new InvalidInputException($"{modelPath}: {model.NumClasses} classes of [{model.Channels},{model.Height},{model.Width}] images; the judges expect {Card.NumClasses} classes of [{string.Join(",", Card.ImageShape)}].");
    }

    /// <summary>A split of the real data these judges judge, in their image shape (<see cref="LoadData(string, Imaging.DataSplit, IReadOnlyList{string}, int[], Imaging.ResizeMode)"/>).</summary>
    public Imaging.LabelledImages LoadData(string dataFolder, Imaging.DataSplit split, Imaging.ResizeMode resize = Imaging.ResizeMode.Refuse)
        => LoadData(dataFolder, split, Card.ClassNames, Card.ImageShape, resize);

    /// <summary>
    /// Reads split <paramref name="split"/> of an IDX folder or image folder for judges of <paramref name="classNames"/> and
    /// image shape [C, H, W]; an image folder's class folders must be those names, in that order.
    /// </summary>
    /// <exception cref="InvalidInputException">Missing or bad data, another shape, other classes.</exception>
    public static Imaging.LabelledImages LoadData(string dataFolder, Imaging.DataSplit split, IReadOnlyList<string> classNames, int[] shape, Imaging.ResizeMode resize = Imaging.ResizeMode.Refuse)
    {
        if (shape[1] != shape[2]) throw new InvalidInputException($"Judges of [{string.Join(",", shape)}] images: only square images are read.");
        var data = Imaging.LabelledData.Load(dataFolder, split, classNames.Count, shape[0], shape[1], resize);
        if (data.ClassNames is { } names && !names.SequenceEqual(classNames))
            throw new InvalidInputException($"Image folder {data.Source}: its classes are [{string.Join(", ", names)}]; the judges' are [{string.Join(", ", classNames)}].");
        return data;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Cnn.Dispose();
        LightGbm?.Dispose();
    }
}
