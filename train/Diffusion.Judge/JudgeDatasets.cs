using Diffusion.Runtime;

namespace Diffusion.Judge;

/// <summary>The datasets the judge is trained on: names, default data folders and class names.</summary>
public static class JudgeDatasets
{
    /// <summary>Class names of MNIST (the digits).</summary>
    public static readonly string[] MnistClasses = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    /// <summary>Class names of Fashion-MNIST (Xiao et al. 2017), index = label.</summary>
    public static readonly string[] FashionClasses =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>Class names of a known dataset ("mnist" or "fashion-mnist").</summary>
    /// <exception cref="InvalidInputException">Unknown dataset name.</exception>
    public static string[] ClassNames(string dataset) => Normalize(dataset) switch
    {
        "mnist" => MnistClasses,
        "fashion-mnist" => FashionClasses,
        _ => throw new InvalidInputException($"Unknown dataset '{dataset}'; expected mnist or fashion-mnist."),
    };

    /// <summary>Lower-case canonical name ("fashion" and "fashion_mnist" map to "fashion-mnist").</summary>
    public static string Normalize(string dataset) => dataset.Trim().ToLowerInvariant() switch
    {
        "fashion" or "fashion_mnist" or "fashionmnist" => "fashion-mnist",
        var d => d,
    };

    /// <summary>
    /// Epochs <c>train-classifier</c> uses when --epochs is not given: 4 for MNIST (99.49% test accuracy here),
    /// 8 for Fashion-MNIST, which is harder and needs more passes to pass 92%.
    /// </summary>
    public static int DefaultEpochs(string dataset) => Normalize(dataset) == "fashion-mnist" ? 8 : 4;

    /// <summary>Default data folder of a dataset: <c>data/&lt;name&gt;</c>.</summary>
    public static string DefaultDataFolder(string dataset) => Path.Combine("data", Normalize(dataset));
}
