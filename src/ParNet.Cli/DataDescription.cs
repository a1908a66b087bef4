using ParNet.Data;

namespace ParNet.Cli;

/// <summary>The data set as the run and eval headers name it: a folder data set by its folder and class count (a run on
/// a 2-class folder read "on imagenet", the layout's name, as if it were ImageNet).</summary>
static class DataDescription
{
    public static string Of(string dataset, string? dataDirectory, int classes) =>
        DataPipelines.IsFolderLayout(dataset) && dataDirectory is not null
            ? $"{(dataset == "folder" ? "" : dataset + "-layout ")}folder {Path.GetFullPath(dataDirectory)} ({classes} classes)"
            : dataset;
}
