namespace ParNet.Tests.Cli;

/// <summary>The library's data pipelines refuse bad data options with ArgumentException; the CLI reports them as user errors.</summary>
public class DataErrorTests
{
    [Fact]
    public void Train_with_an_unknown_dataset_is_one_line_exit_2()
    {
        using var folder = new ParNet.Tests.Data.TempDirectory();
        CliRunner.AssertUserError(CliRunner.Run("train", "--dataset", "imagenet-22k", "--out", folder.File("run")), "imagenet-22k");
    }

    [Fact]
    public void Train_on_a_folder_data_set_without_a_folder_is_one_line_exit_2()
    {
        using var folder = new ParNet.Tests.Data.TempDirectory();
        CliRunner.AssertUserError(CliRunner.Run("train", "--dataset", "folder", "--out", folder.File("run")), "data");
    }
}
