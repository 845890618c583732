/// What one component shares with the others of its pipeline, keyed by type: the primary
/// exporter shares its database, and exporters, stages and the UI that keep state there or read
/// events back take it from their `BuildContext` (as otelcol components reach extensions
/// through their host, or swift-distributed-tracing's `ServiceContext` holds values by key).
/// Nobody reopens a database from a connection string it was passed, or downcasts a component.
public struct SharedResources: Sendable {
    private var byType: [ObjectIdentifier: any Sendable] = [:]

    public init() {}

    /// Shares `resource` under its own type; a second one of the same type replaces the first.
    public mutating func provide<Resource: Sendable>(_ resource: Resource) {
        byType[ObjectIdentifier(Resource.self)] = resource
    }

    /// Adds `other`'s resources; where both have one of a type, `other`'s.
    public mutating func merge(_ other: SharedResources) {
        byType.merge(other.byType) { _, theirs in theirs }
    }

    /// The shared resource of this type, if a component provided one.
    public func get<Resource: Sendable>(_ type: Resource.Type = Resource.self) -> Resource? {
        byType[ObjectIdentifier(type)] as? Resource
    }
}
