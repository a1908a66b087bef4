using System.Text.Json.Nodes;

namespace ParNet.Runtime;

/// <summary>Field-by-field comparison of two JSON objects, for messages that say what differs rather than that something does.</summary>
public static class JsonFields
{
    /// <summary>The top-level fields in which two JSON objects differ, e.g. "Planes [16,32,64] in the checkpoint, [4,8,16] in the
    /// model" (<paramref name="firstWhere"/> "in the checkpoint", <paramref name="secondWhere"/> "in the model").</summary>
    public static string Differences(JsonObject first, JsonObject second, string firstWhere, string secondWhere)
    {
        static string Of(JsonNode? value) => value?.ToJsonString() ?? "none";
        return string.Join("; ", first.Select(kv => kv.Key).Union(second.Select(kv => kv.Key))
            .Where(key => Of(first[key]) != Of(second[key]))
            .Select(key => $"{key} {Of(first[key])} {firstWhere}, {Of(second[key])} {secondWhere}"));
    }

    /// <summary>As <see cref="Differences(JsonObject, JsonObject, string, string)"/>, for two serialized objects.</summary>
    public static string Differences(string first, string second, string firstWhere, string secondWhere) =>
        Differences(JsonNode.Parse(first)!.AsObject(), JsonNode.Parse(second)!.AsObject(), firstWhere, secondWhere);
}
